"""Fills HOST:PORT's client limit with raw connections that read the greeting and stay
silent, until one gets an ERR packet in place of the greeting; prints that packet and
whether the socket was closed after it, then what the mariadb CLI and pymysql say while the
limit holds. Usage: refused.py HOST PORT MOST_CONNECTIONS"""
import socket, subprocess, sys
import pymysql

host, port, most = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def first_packet(sock):
    header = exactly(sock, 4)
    return header[3], exactly(sock, int.from_bytes(header[:3], "little"))


def closed(sock):
    try:
        return sock.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        return False


held = []
for _ in range(most):
    sock = socket.create_connection((host, port), timeout=5)
    seq, payload = first_packet(sock)
    if payload[:1] != b"\xff":
        held.append(sock)
        continue
    code = int.from_bytes(payload[1:3], "little")
    rest = payload[3:]
    state, message = (rest[1:6].decode(), rest[6:]) if rest[:1] == b"#" else ("none", rest)
    print(f"packet held={len(held)} seq={seq} code={code} sqlstate={state} "
          f"closed={closed(sock)} message={message.decode()}")
    break
else:
    print(f"never refused after {most} connections")
    sys.exit(1)

cli = subprocess.run(["mariadb", "-h", host, "-P", str(port), "-u", "app", "-papp-pw",
                      "-e", "SELECT 1"], capture_output=True, text=True, timeout=30)
print(f"cli rc={cli.returncode} {cli.stderr.strip()}")
try:
    pymysql.connect(host=host, port=port, user="app", password="app-pw", connect_timeout=5)
    print("pymysql admitted")
except pymysql.err.OperationalError as e:
    print(f"pymysql {e}")
