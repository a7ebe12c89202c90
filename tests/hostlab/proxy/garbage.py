import os, socket, sys
for _ in range(5):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    try:
        s.recv(4096)
        s.sendall(os.urandom(100000))
    except OSError:
        pass
    s.close()
