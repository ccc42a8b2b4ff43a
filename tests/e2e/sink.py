"""A recording SMTP sink for delivery tests: a real SMTP server on loopback (threads, sockets)
that keeps what it received and answers per recipient address as a test asks, in the spirit of
KumoMTA's integration-test sink.

Recipient local parts steer it:
  tempfail...    451 4.3.0 at RCPT
  permfail...    550 5.1.1 at RCPT
  retry<N>...    451 at RCPT for the first N attempts, then 250 (counted per address)
  slow...        waits `slow_seconds` before answering RCPT
  disconnect...  closes the connection at RCPT
Server-wide: greeting (e.g. "421 busy"), starttls (a (cert, key) pair), starttls_injection
(plain text sent right behind the 220 to STARTTLS, in the same packet), smtputf8/dsn offers,
rcpt_replies (local-part prefix -> a scripted RCPT reply, checked first; changeable while it
runs), eight_bit_mime (False: no 8BITMIME offered) and mail_reply (a scripted reply to every MAIL, e.g. "421 4.7.0 try again later").

It records when each message arrived (Message.at) and on which connection (Message.connection),
when each connection opened (connection_times) and the most connections open at once
(max_open), for throttle and connection-cap tests.

lmtp=True makes it an LMTP server (RFC 2033): LHLO, and after the message one reply per accepted
recipient — data_replies (local-part prefix -> reply) choose them, 250 otherwise; a message is
recorded with the recipients that got 250. unix_path listens on a Unix socket instead of TCP.
"""
import socket
import ssl
import threading
import time


class Message:
    def __init__(self, mail_from, recipients, data, peer, helo, tls, mail_line, rcpt_lines, connection=0):
        self.at = time.time()
        self.connection = connection
        self.mail_from = mail_from
        self.recipients = recipients
        self.data = data
        self.peer = peer
        self.helo = helo
        self.tls = tls
        self.mail_line = mail_line
        self.rcpt_lines = rcpt_lines

    def __repr__(self):
        return f"Message(from={self.mail_from!r}, to={self.recipients!r}, {len(self.data)} octets, peer={self.peer})"


class Sink:
    def __init__(self, host="127.0.0.1", port=0, greeting="220 sink.test ESMTP", starttls=None, dsn=True, smtputf8=True,
                 slow_seconds=2.0, starttls_injection=None, lmtp=False, unix_path=None, eight_bit_mime=True):
        if unix_path:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(str(unix_path))
            self.host, self.port = str(unix_path), 0
        else:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((host, port))
            self.host, self.port = self.listener.getsockname()
        self.listener.listen(64)
        self.lmtp = lmtp
        self.eight_bit_mime = eight_bit_mime
        self.data_replies: dict[str, str] = {}
        self.greeting = greeting
        self.starttls = starttls
        self.starttls_injection = starttls_injection
        self.dsn = dsn
        self.smtputf8 = smtputf8
        self.slow_seconds = slow_seconds
        self.messages: list[Message] = []
        self.connections = 0
        self.transactions = 0
        self.attempts: dict[str, int] = {}
        self.rcpt_replies: dict[str, str] = {}
        self.mail_reply = None
        self.connection_times: list[float] = []
        self.open = 0
        self.max_open = 0
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self):
        self.stopped = True
        self.listener.close()

    def wait_for(self, count, timeout=20.0):
        """Waits until `count` messages arrived; returns them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"sink got {len(self.messages)} of {count} messages: {self.messages}")

    def delivered_to(self):
        with self.lock:
            return sorted(r for m in self.messages for r in m.recipients)

    def _accept(self):
        while not self.stopped:
            try:
                connection, peer = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.connection_times.append(time.time())
                self.open += 1
                self.max_open = max(self.max_open, self.open)
                number = self.connections
            threading.Thread(target=self._serve, args=(connection, peer, number), daemon=True).start()

    def _serve(self, connection, peer, number=0):
        stream = Lines(connection)
        try:
            stream.send(self.greeting)
            if not self.greeting.startswith("220"):
                stream.readline(timeout=5)
                return
            self._session(stream, peer, number)
        except (OSError, ConnectionError, ssl.SSLError):
            pass
        finally:
            with self.lock:
                self.open -= 1
            try:
                stream.sock.close()
            except OSError:
                pass

    def _session(self, stream, peer, number=0):
        helo, tls = "", False
        mail_from, recipients, mail_line, rcpt_lines = None, [], "", []
        while True:
            line = stream.readline()
            if line is None:
                return
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO", "LHLO") and (verb == "LHLO") != self.lmtp:
                stream.send("500 5.5.1 wrong greeting for this protocol")
                continue
            if verb in ("EHLO", "HELO", "LHLO"):
                helo = line[5:].strip()
                if verb == "HELO":
                    stream.send("250 sink.test")
                    continue
                offers = ["PIPELINING", "SIZE 10485760"] + (["8BITMIME"] if self.eight_bit_mime else [])
                if self.dsn:
                    offers.append("DSN")
                if self.smtputf8:
                    offers.append("SMTPUTF8")
                if self.starttls and not tls:
                    offers.append("STARTTLS")
                stream.send("\r\n".join([f"250-sink.test"] + [f"250-{o}" for o in offers[:-1]] + [f"250 {offers[-1]}"]))
            elif line.upper() == "STARTTLS" and self.starttls and not tls:
                stream.send("220 2.0.0 go ahead" + (f"\r\n{self.starttls_injection}" if self.starttls_injection else ""))
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*self.starttls)
                stream.sock = context.wrap_socket(stream.sock, server_side=True)
                stream.buffer = b""
                tls = True
                helo = ""
            elif verb == "MAIL" and self.mail_reply:
                stream.send(self.mail_reply)
                if self.mail_reply.startswith("421"):
                    return
            elif verb == "MAIL":
                mail_from = line[line.index("<") + 1:line.index(">")]
                recipients, mail_line, rcpt_lines = [], line, []
                stream.send("250 2.1.0 ok")
            elif verb == "RCPT":
                address = line[line.index("<") + 1:line.index(">")]
                rcpt_lines.append(line)
                local = address.split("@")[0].lower()
                with self.lock:
                    self.attempts[address] = self.attempts.get(address, 0) + 1
                    attempt = self.attempts[address]
                    scripted = next((reply for prefix, reply in self.rcpt_replies.items() if local.startswith(prefix)),
                                    None)
                if scripted:
                    stream.send(scripted)
                elif local.startswith("tempfail"):
                    stream.send("451 4.3.0 try again later")
                elif local.startswith("permfail"):
                    stream.send("550 5.1.1 no such user here")
                elif local.startswith("retry"):
                    wanted = int("".join(c for c in local[5:] if c.isdigit()) or "1")
                    if attempt <= wanted:
                        stream.send("451 4.3.0 not yet")
                    else:
                        recipients.append(address)
                        stream.send("250 2.1.5 ok")
                elif local.startswith("disconnect"):
                    return
                else:
                    if local.startswith("slow"):
                        time.sleep(self.slow_seconds)
                    recipients.append(address)
                    stream.send("250 2.1.5 ok")
            elif verb == "DATA":
                if not recipients:
                    stream.send("554 5.5.1 no valid recipients")
                    continue
                stream.send("354 go ahead")
                data = stream.read_data()
                if data is None:
                    return
                if self.lmtp:
                    # RFC 2033 §4.2: one reply per accepted recipient, in order.
                    delivered = []
                    for address in recipients:
                        local = address.split("@")[0].lower()
                        reply = next((r for p, r in self.data_replies.items() if local.startswith(p)),
                                     f"250 2.0.0 <{address}> delivered")
                        if reply.startswith("250"):
                            delivered.append(address)
                        stream.send(reply)
                    with self.lock:
                        self.transactions += 1
                        if delivered:
                            self.messages.append(Message(mail_from, delivered, data, peer, helo, tls, mail_line,
                                                         rcpt_lines, number))
                    mail_from, recipients = None, []
                    continue
                with self.lock:
                    self.transactions += 1
                    self.messages.append(Message(mail_from, recipients, data, peer, helo, tls, mail_line, rcpt_lines,
                                                 number))
                stream.send("250 2.0.0 queued")
                mail_from, recipients = None, []
            elif verb == "RSET":
                mail_from, recipients = None, []
                stream.send("250 2.0.0 ok")
            elif verb == "QUIT":
                stream.send("221 2.0.0 bye")
                return
            elif verb == "NOOP":
                stream.send("250 2.0.0 ok")
            else:
                stream.send("502 5.5.2 not implemented")


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def _fill(self, timeout=30):
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def readline(self, timeout=30):
        try:
            while b"\r\n" not in self.buffer:
                # A bare LF in a command line is a protocol error the sink reports loudly.
                if b"\n" in self.buffer.replace(b"\r\n", b""):
                    raise AssertionError(f"bare LF from the client: {self.buffer!r}")
                self._fill(timeout)
        except (ConnectionError, socket.timeout, OSError):
            return None
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("utf-8", errors="replace")

    def read_data(self):
        """The message up to CRLF.CRLF, undotted; raises on a bare CR or LF (never allowed on the wire)."""
        while b"\r\n.\r\n" not in (b"\r\n" + self.buffer):
            try:
                self._fill()
            except (ConnectionError, socket.timeout, OSError):
                return None
        raw = b"\r\n" + self.buffer
        end = raw.index(b"\r\n.\r\n")
        body, self.buffer = raw[2:end + 2], raw[end + 5:]
        stripped = body.replace(b"\r\n", b"")
        if b"\r" in stripped or b"\n" in stripped:
            raise AssertionError("bare CR or LF in DATA")
        lines = body.split(b"\r\n")
        return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
