# Writes through the proxy until DIR/stop exists: one autocommit INSERT per attempt, each
# attempt a new number, never retried (a failed one may or may not have been applied).
# Then a new session's transaction says which server it runs on. Prints one JSON line.
import json, os, sys, time
import pymysql

host, port, d, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
out = {"acked": [], "failed": [], "errors": {}, "refused": "", "hangs": 0, "longest_ms": 0}


def connect():
    return pymysql.connect(host=host, port=port, user="app", password="app-pw",
                           database="proxylab", autocommit=True, connect_timeout=10,
                           read_timeout=30, write_timeout=30)


conn, attempt = None, first
while not os.path.exists(d + "/stop"):
    started = time.monotonic()
    try:
        if conn is None:
            conn = connect()
    except pymysql.err.MySQLError as e:
        if "no active node" in str(e) and not out["refused"]:
            out["refused"] = str(e)
        out["errors"]["connect-%s" % e.args[0]] = out["errors"].get("connect-%s" % e.args[0], 0) + 1
        time.sleep(0.01)
        continue
    attempt += 1
    try:
        conn.cursor().execute("INSERT INTO w (attempt) VALUES (%d)" % attempt)
        out["acked"].append(attempt)
    except pymysql.err.MySQLError as e:
        out["failed"].append(attempt)
        out["errors"][str(e.args[0])] = out["errors"].get(str(e.args[0]), 0) + 1
        if "timed out" in str(e):
            out["hangs"] += 1
        try:
            conn.close()
        except Exception:
            pass
        conn = None
    out["longest_ms"] = max(out["longest_ms"], int((time.monotonic() - started) * 1000))
    if len(out["acked"]) == 50:
        open(d + "/ready", "w").close()
    time.sleep(0.005)

server = "none"
for _ in range(200):
    try:
        c = connect()
        cur = c.cursor()
        c.begin()
        cur.execute("SELECT @@server_id")
        server = str(cur.fetchone()[0])
        c.commit()
        break
    except pymysql.err.MySQLError as e:
        server = "error-%s" % e.args[0]
        time.sleep(0.1)
out["new_session_server"] = server
print(json.dumps(out))
