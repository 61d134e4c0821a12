"""A TCP forwarder in front of a real server, to make it vanish and return.

``cut()`` drops every open connection (as a database failover or restart
does) and refuses new ones until ``restore()``. The server behind it is
untouched, so tests of "the database went away for a few seconds" run
against the machine's real PostgreSQL without disturbing anyone else.

``drop_next_requests(n)`` makes the next ``n`` client sends vanish: the
proxy swallows the bytes and resets that connection (RST), which is what a
client sees when an HTTP server closes an idle keep-alive connection just as
a request reuses it. :class:`StalledServer` accepts and never answers (a
hung nova-api). Ports: 16280-16289.
"""

import socket
import struct
import threading

from tests.functional import peers


class TCPProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``."""

    def __init__(self, port, upstream_port):
        self.port = port
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._conns = []
        self._listener = None
        self._drops = 0
        self.dropped = 0

    def start(self):
        peers.check_port_free(self.port, what='TCP proxy')
        self._listener = socket.create_server((peers.HOST, self.port),
                                              reuse_port=False)
        threading.Thread(target=self._accept, args=(self._listener,),
                         daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:          # closed by cut()/stop()
                return
            try:
                server = socket.create_connection(
                    (peers.HOST, self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._conns += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump,
                                 args=(src, dst, src is client),
                                 daemon=True).start()

    def drop_next_requests(self, count=1):
        with self._lock:
            self._drops += count

    def _take_drop(self):
        with self._lock:
            if self._drops <= 0:
                return False
            self._drops -= 1
            self.dropped += 1
            return True

    def _pump(self, src, dst, from_client):
        try:
            while data := src.recv(65536):
                if from_client and self._take_drop():
                    # SO_LINGER 0: close() sends RST instead of FIN
                    src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack('ii', 1, 0))
                    src.close()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        """Refuse new connections and reset the open ones."""
        _close(self)

    def restore(self):
        self.start()

    def stop(self):
        self.cut()


class StalledServer:
    """Accept every connection on 127.0.0.1:``port`` and never answer: a
    hung nova-api, or a load balancer whose backends are gone. The
    connections are kept open (nothing is read, nothing is sent) until
    ``stop()``."""

    def __init__(self, port):
        self.port = port
        self._listener = None
        self._conns = []
        self._lock = threading.Lock()

    @property
    def accepted(self):
        with self._lock:
            return len(self._conns)

    def start(self):
        peers.check_port_free(self.port, what='stalled server')
        self._listener = socket.create_server((peers.HOST, self.port))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:          # closed by stop()
                return
            with self._lock:
                self._conns.append(client)

    def stop(self):
        _close(self)


def _close(server):
    """Close ``server``'s listener (waking its accept()) and every
    connection it holds: the same for a proxy cut and a stalled server
    stopped."""
    try:
        server._listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    server._listener.close()
    with server._lock:
        conns, server._conns = server._conns, []
    for sock in conns:
        try:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        except OSError:
            pass
