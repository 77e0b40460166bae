"""In-node agent of the benchmark: runs inside one simulated node (started with
`testbed/cluster exec`) and takes every timestamp there, on the node's own
kernel clock (CLOCK_REALTIME, shared by all nodes of the testbed).

It watches the top level of the synced directory with inotify and prints one
line per file that appears there (`A <time> <name>`, when rsync renames it into
place or a local writer closes it). It also obeys commands read from stdin, one
per line, and answers on stdout:

    write NAME SIZE           write NAME (SIZE random bytes)  -> W <time> NAME
    burst PREFIX COUNT SIZE   write PREFIX-0..COUNT-1          -> W <time> PREFIX
    quit                      exit (so does end of input)

It never writes anywhere but the synced directory, and only the files it is told.
"""

import ctypes
import os
import select
import struct
import sys
import time

IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
EVENT_HEADER = struct.Struct("iIII")


def say(*words):
    """Prints one answer line and flushes it at once (the harness reads live)."""
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def watch(directory):
    """Returns an inotify fd watching `directory` for files put in place."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    wd = libc.inotify_add_watch(fd, directory.encode(), IN_CLOSE_WRITE | IN_MOVED_TO)
    if wd < 0:
        raise OSError(ctypes.get_errno(), "inotify_add_watch " + directory)
    return fd


def report_arrivals(fd):
    """Reads pending inotify events and prints `A <time> <name>` for each file
    whose name does not start with a dot (rsync's temporary files do)."""
    now = time.time()
    data = os.read(fd, 65536)
    offset = 0
    while offset < len(data):
        _wd, _mask, _cookie, length = EVENT_HEADER.unpack_from(data, offset)
        offset += EVENT_HEADER.size
        name = data[offset:offset + length].rstrip(b"\0").decode(errors="replace")
        offset += length
        if name and not name.startswith("."):
            say("A", f"{now:.6f}", name)


def write_file(directory, name, size):
    """Writes one file of `size` random bytes; returns the time it started."""
    started = time.time()
    with open(os.path.join(directory, name), "wb") as out:
        out.write(os.urandom(size))
    return started


def obey(directory, line):
    """Runs one command line; returns False when the agent should stop."""
    words = line.split()
    if not words or words[0] == "quit":
        return False
    if words[0] == "write":
        name, size = words[1], int(words[2])
        say("W", f"{write_file(directory, name, size):.6f}", name)
    elif words[0] == "burst":
        prefix, count, size = words[1], int(words[2]), int(words[3])
        started = time.time()
        for i in range(count):
            write_file(directory, f"{prefix}-{i}", size)
        say("W", f"{started:.6f}", prefix)
    else:
        say("E", "unknown command", words[0])
    return True


def main():
    """Watches argv[1] and obeys stdin until `quit` or end of input."""
    directory = sys.argv[1]
    fd = watch(directory)
    say("R", f"{time.time():.6f}")
    while True:
        ready, _, _ = select.select([fd, sys.stdin], [], [])
        if fd in ready:
            report_arrivals(fd)
        if sys.stdin in ready:
            line = sys.stdin.readline()
            if not obey(directory, line):
                return


if __name__ == "__main__":
    main()
