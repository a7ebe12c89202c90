import pymysql, sys, os, time
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def connect():
    return pymysql.connect(host=host, port=port, user="app", password="app-pw",
                           database="proxylab", autocommit=True)
c = connect()
cur = c.cursor()
cur.execute("INSERT INTO t (v) VALUES (-2)")
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
try:
    cur.execute("INSERT INTO t (v) VALUES (-3)")
    old = "accepted"
except pymysql.err.MySQLError as e:
    old = "failed-%s" % e.args[0]
server = "none"
for attempt in range(100):
    try:
        c = connect()
        cur = c.cursor()
        c.begin()
        cur.execute("INSERT INTO t (v) VALUES (-4)")
        cur.execute("SELECT @@server_id")
        server = cur.fetchone()[0]
        c.commit()
        break
    except pymysql.err.MySQLError as e:
        server = "error-%s" % e.args[0]
        time.sleep(0.2)
print("old_session=%s new_session_server=%s" % (old, server))
