#!/usr/bin/env python3
"""Runs a command with prctl(PR_GET_AUXV) failing with EINVAL: `noauxv.py valgrind ... outpost run`.

rustix reads the aux vector with prctl(PR_GET_AUXV), which valgrind 3.19 passes through
unchanged, so it points at the real vDSO that valgrind did not map, and the agent crashes
under valgrind (rustix#1559). A seccomp filter makes that prctl fail, and rustix falls back to
/proc/self/auxv, which valgrind fakes. Used by bench/host/order.sh and
bench/fleet/real_agents.py --count-instructions."""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_GET_AUXV, NR_PRCTL, EINVAL = 0x41555856, 157, 22
def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
LD_ABS, JEQ, RET = 0x20, 0x15, 0x06
prog = b"".join([
    stmt(LD_ABS, 0), jump(JEQ, NR_PRCTL, 0, 3),          # seccomp_data.nr
    stmt(LD_ABS, 16), jump(JEQ, PR_GET_AUXV, 0, 1),      # seccomp_data.args[0]
    stmt(RET, 0x00050000 | EINVAL), stmt(RET, 0x7fff0000),
])
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack("HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0):
    sys.exit("seccomp: errno %d" % ctypes.get_errno())
os.execvp(sys.argv[1], sys.argv[1:])
