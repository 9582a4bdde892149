#!/usr/bin/env python3
# A delay line and loss for one network namespace, for kernels without sch_netem:
# packets an iptables NFQUEUE rule hands to queue QUEUE are held DELAY_MS and then
# accepted, in arrival order, and dropped with probability LOSS_PCT / 100 on arrival.
# Run inside the namespace (the queue is per namespace); prints "ready" once bound;
# exits when stdin closes or on SIGTERM.
#
# usage: netns-delay.py QUEUE DELAY_MS LOSS_PCT
#
# Raw netlink (nfnetlink_queue) with the standard library only: verdicts carry no
# packet copy (copy mode META) and whole GSO packets are queued (F_GSO), so a
# gigabit flow costs a few thousand verdicts a second.

import collections
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQNL_MSG_VERDICT_BATCH = 3
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_GSO = 4
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_DROP = 0
NF_ACCEPT = 1
AF_INET = 2
QUEUE_MAXLEN = 200_000

queue_num = int(sys.argv[1])
delay = float(sys.argv[2]) / 1000.0
loss = float(sys.argv[3]) / 100.0

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
SO_RCVBUFFORCE = 33
sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
sock.bind((0, 0))
# ENOBUFS on overflow would lose verdicts silently; tell the kernel not to report it.
NETLINK_NO_ENOBUFS = 5
sock.setsockopt(270, NETLINK_NO_ENOBUFS, 1)
seq = 0


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack('=HH', length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def message(msg_type, family, res_id, attrs, flags=NLM_F_REQUEST):
    global seq
    seq += 1
    body = struct.pack('!BBH', family, 0, res_id) + b''.join(attrs)
    return struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def config(attrs):
    sock.send(message(NFQNL_MSG_CONFIG, 0, queue_num, attrs, NLM_F_REQUEST | NLM_F_ACK))
    data = sock.recv(65536)
    _, kind = struct.unpack_from('=IH', data, 0)
    if kind == NLMSG_ERROR:
        (err,) = struct.unpack_from('=i', data, 16)
        if err != 0:
            raise OSError(-err, os.strerror(-err))


config([attr(NFQA_CFG_CMD, struct.pack('!BBH', NFQNL_CFG_CMD_BIND, 0, AF_INET))])
config([attr(NFQA_CFG_PARAMS, struct.pack('!IB', 0, NFQNL_COPY_META))])
config([attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('!I', QUEUE_MAXLEN))])
config([attr(NFQA_CFG_FLAGS, struct.pack('!I', NFQA_CFG_F_GSO)), attr(NFQA_CFG_MASK, struct.pack('!I', NFQA_CFG_F_GSO))])


def verdict(kind, verdict_code, packet_id):
    sock.send(message(kind, 0, queue_num, [attr(NFQA_VERDICT_HDR, struct.pack('!II', verdict_code, packet_id))]))


def packet_ids(data):
    """The packet ids of the NFQNL_MSG_PACKET messages in one recv."""
    at = 0
    while at + 16 <= len(data):
        length, kind = struct.unpack_from('=IH', data, at)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = at + 20
            while a + 4 <= at + length:
                alen, atype = struct.unpack_from('=HH', data, a)
                if alen < 4:
                    break
                if atype & 0x7fff == NFQA_PACKET_HDR:
                    yield struct.unpack_from('!I', data, a + 4)[0]
                    break
                a += (alen + 3) & ~3
        at += (length + 3) & ~3


held = collections.deque()  # (release time, packet id), in arrival order
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
print('ready', flush=True)
stdin = sys.stdin.fileno()
watch = [sock, stdin]
while not stop:
    now = time.monotonic()
    # One batch verdict accepts every held packet up to the newest that is due.
    due = None
    while held and held[0][0] <= now:
        due = held.popleft()[1]
    if due is not None:
        verdict(NFQNL_MSG_VERDICT_BATCH, NF_ACCEPT, due)
    timeout = max(0.0, held[0][0] - now) if held else 1.0
    ready, _, _ = select.select(watch, [], [], timeout)
    if stdin in ready:
        if not os.read(stdin, 4096):
            break
    if sock in ready:
        while True:
            try:
                data = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            arrived = time.monotonic()
            for pid in packet_ids(data):
                if loss > 0 and random.random() < loss:
                    verdict(NFQNL_MSG_VERDICT, NF_DROP, pid)
                elif delay <= 0:
                    verdict(NFQNL_MSG_VERDICT, NF_ACCEPT, pid)
                else:
                    held.append((arrived + delay, pid))
