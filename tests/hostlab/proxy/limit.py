import pymysql, sys
host, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [pymysql.connect(host=host, port=port, user="app", password="app-pw") for _ in range(limit)]
try:
    pymysql.connect(host=host, port=port, user="app", password="app-pw")
    print("admitted")
except pymysql.err.OperationalError as e:
    print("refused", e.args[0])
