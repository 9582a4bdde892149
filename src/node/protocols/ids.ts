// The protocol ids castor speaks, one per concern (DESIGN.md, Protocols).

export const BLOB_PROTOCOL = '/castor/blob/1';
export const STAT_PROTOCOL = '/castor/stat/1';
export const DIRECTORY_PROTOCOL = '/castor/directory/1';
export const INDEX_PROTOCOL = '/castor/index/1';
export const PATH_INFO_PROTOCOL = '/castor/path-info/1';
