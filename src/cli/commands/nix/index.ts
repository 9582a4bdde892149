// The face of src/cli/commands/nix: one runner and help text per `castor nix` subcommand.

export { EXPORT_HELP, exportCmd } from './export.js';
export { FINGERPRINT_HELP, signCmd, verifyCmd } from './fingerprint.js';
export { IMPORT_HELP, importCmd } from './import.js';
export { LS_HELP, lsCmd, PATH_INFO_HELP, pathInfoCmd } from './path-info.js';
