import pymysql, sys
host, port, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = pymysql.connect(host=host, port=port, user="app", password="app-pw", database="proxylab",
                    autocommit=True)
cur = c.cursor()
missed = on_replica = 0
for i in range(rounds):
    cur.execute("INSERT INTO t (v) VALUES (%s)", (i,))
    row_id = cur.lastrowid
    cur.execute("SELECT v, @@server_id FROM t WHERE id = %s", (row_id,))
    row = cur.fetchone()
    if row is None or row[0] != i:
        missed += 1
    elif row[1] != 1:
        on_replica += 1
c.begin()
cur.execute("SELECT @@server_id")
in_transaction = cur.fetchone()[0]
cur.execute("INSERT INTO t (v) VALUES (-1)")
c.commit()
print(f"missed={missed} on_replica={on_replica} in_transaction={in_transaction}")
