"""What the curl engine's thread waits for: the sockets libcurl asks to watch and the timer it sets, told
through libcurl's socket and timer callbacks (`curl_multi_socket_action`), watched with poll(2).

Not `curl_multi_fdset`: it leaves out every socket numbered FD_SETSIZE (1024) or above, as select(2) would,
so in a process holding that many descriptors (a long-running library user, a server, a test session) the
engine slept through each answer until its one-second poll timeout, every exchange taking about a second.
poll(2) has no such limit, and the sockets are registered once, when libcurl says, not on every wait.

While exchanges are under way, each watched socket is also handed to libcurl once a second as if it had
stirred (libcurl then looks for itself), so every exchange runs at least that often, as under
`curl_multi_perform`: libcurl arms an exchange's low-speed check (its stall bound) only when it runs that
exchange, and one waiting on a silent server with another begun alongside it was left unarmed until some
other timer of its own ran it (its connect timeout: 10 s past the stall bound by default).
"""

from __future__ import annotations

import contextlib
import os
import select
import time

import pycurl

IDLE_POLL_MS = 1000  # with no timer set: wake this often anyway (idle exit, a request queued meanwhile)
SWEEP_EVERY = 1.0  # seconds: while busy, every exchange is run this often (libcurl's speed check is per second)

_WANTS = {pycurl.POLL_IN: select.POLLIN, pycurl.POLL_OUT: select.POLLOUT,
          pycurl.POLL_INOUT: select.POLLIN | select.POLLOUT}


class CurlEvents:
    """One `CurlMulti`'s sockets and timer, and the engine's wake-up pipe, for one thread.

    Args:
        multi: the multi handle (its socket and timer callbacks are set here).
        wake: the read end of the pipe other threads write to when they queue a request.
    """

    def __init__(self, multi: pycurl.CurlMulti, wake: int) -> None:
        self._multi = multi
        self._wake = wake
        self._poller = select.poll()
        self._poller.register(wake, select.POLLIN)
        self._watched: set[int] = set()
        self._due: float | None = None  # when libcurl's timer fires (time.monotonic()), None: not set
        self._swept = time.monotonic()  # when every exchange was last run
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)

    def _on_socket(self, what: int, fd: int, multi: object, socketp: object) -> None:
        if what == pycurl.POLL_REMOVE:
            if fd in self._watched:
                self._watched.discard(fd)
                self._poller.unregister(fd)
            return
        self._poller.register(fd, _WANTS.get(what, 0))  # (registering again changes what is watched)
        self._watched.add(fd)

    def _on_timer(self, timeout_ms: int) -> None:
        self._due = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000

    def run_due(self) -> None:
        """Let libcurl act on its timer if it is due (a handle just added asks for that at once)."""
        if self._due is not None and time.monotonic() >= self._due:
            self._due = None
            self._multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)

    def wait(self, busy: bool) -> None:
        """Sleep until a watched socket is ready, the timer is due, or the pipe wakes us (at most
        IDLE_POLL_MS); then let libcurl act on each ready socket."""
        timeout = IDLE_POLL_MS
        if busy:
            due = self._swept + SWEEP_EVERY if self._due is None else min(self._due, self._swept + SWEEP_EVERY)
            timeout = max(0, min(timeout, round((due - time.monotonic()) * 1000)))
        for fd, happened in self._poller.poll(timeout):
            if fd == self._wake:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake, 4096):
                        pass
                continue
            if happened & select.POLLNVAL and fd in self._watched:  # closed without libcurl saying: never again
                self._watched.discard(fd)
                self._poller.unregister(fd)
            flags = 0
            if happened & (select.POLLIN | select.POLLHUP | select.POLLERR):
                flags |= pycurl.CSELECT_IN  # (a hang-up or error is found by reading)
            if happened & select.POLLOUT:
                flags |= pycurl.CSELECT_OUT
            if happened & (select.POLLERR | select.POLLNVAL):
                flags |= pycurl.CSELECT_ERR
            self._multi.socket_action(fd, flags)
        self.run_due()
        if busy and time.monotonic() >= self._swept + SWEEP_EVERY:
            self._swept = time.monotonic()
            for fd in list(self._watched):  # (a socket libcurl drops meanwhile is no longer in it)
                if fd in self._watched:
                    self._multi.socket_action(fd, 0)
