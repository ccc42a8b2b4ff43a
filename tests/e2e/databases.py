"""Real database servers for the datasource tests, started on loopback in a temporary directory:
PostgreSQL (Debian's postgresql: initdb, then postgres on a free port) and MariaDB (Debian's
mariadb-server: mariadb-install-db, then mariadbd on a free port). Each gets a database `ectest`
and a user `ectest` with password `ectest`, as SparkPost's ds_mysql tests expect."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on (a database that is not there)."""
    return free_port()


class Server:
    """A database server process in a temporary directory of its own."""
    directory = None
    process = None
    log = None

    def wait_until_ready(self, name, ready, timeout=60):
        """Polls `ready` until it holds; the server's log in the error when it exits or never does."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: " + open(self.log.name).read())
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start: " + open(self.log.name).read()[-2000:])

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgreSQL(Server):
    def __init__(self):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not binaries:
            raise RuntimeError("PostgreSQL is not installed (scripts/setup.sh installs it)")
        self.bin = binaries[-1]
        # postgres will not run as root: the server runs as the postgres user, in a directory it owns.
        self.directory = tempfile.mkdtemp(prefix="impulse-pg-")
        self.user = "postgres" if os.getuid() == 0 else None
        if self.user:
            info = pwd.getpwnam(self.user)
            os.chown(self.directory, info.pw_uid, info.pw_gid)
        self.port = free_port()
        self.process = None

    def _run(self, *command, **kwargs):
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run(prefix + list(command), check=True, capture_output=True, timeout=120, **kwargs)

    def start(self):
        data = os.path.join(self.directory, "data")
        password_file = os.path.join(self.directory, "password")
        with open(password_file, "w") as f:
            f.write("secret\n")
        if self.user:
            info = pwd.getpwnam(self.user)
            os.chown(password_file, info.pw_uid, info.pw_gid)
        self._run(f"{self.bin}/initdb", "-D", data, "-U", "admin", "--pwfile", password_file,
                  "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        self.log = open(os.path.join(self.directory, "postgres.log"), "w")
        self.process = subprocess.Popen(prefix + [f"{self.bin}/postgres", "-D", data, "-p", str(self.port), "-k",
                                                  self.directory, "-c", "listen_addresses=127.0.0.1",
                                                  "-c", "fsync=off"], stdout=self.log, stderr=self.log)
        self.wait_until_ready("postgres", lambda: subprocess.run(
            [f"{self.bin}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True).returncode == 0)
        self.admin("CREATE USER ectest PASSWORD 'ectest'")
        self.admin("CREATE DATABASE ectest OWNER ectest")
        return self

    def admin(self, sql, database="postgres"):
        return subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "admin", "-d", database,
                               "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], check=True, capture_output=True, text=True,
                              env={**os.environ, "PGPASSWORD": "secret"}, timeout=60).stdout

    def sql(self, sql):
        """Runs `sql` in ectest as the ectest user."""
        return subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "ectest", "-d", "ectest",
                               "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], check=True, capture_output=True, text=True,
                              env={**os.environ, "PGPASSWORD": "ectest"}, timeout=60).stdout

    @property
    def uri(self):
        return f"pgsql:host=127.0.0.1;port={self.port};dbname=ectest;user=ectest;password=ectest"


class MariaDB(Server):
    def __init__(self):
        if not shutil.which("mariadbd", path="/usr/sbin:/usr/bin"):
            raise RuntimeError("MariaDB is not installed (scripts/setup.sh installs it)")
        self.directory = tempfile.mkdtemp(prefix="impulse-mariadb-")
        self.port = free_port()
        self.socket = os.path.join(self.directory, "mysqld.sock")
        self.process = None

    def start(self):
        data = os.path.join(self.directory, "data")
        user = ["--user=root"] if os.getuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *user], check=True, capture_output=True, timeout=180)
        self.log = open(os.path.join(self.directory, "mariadb.log"), "w")
        self.process = subprocess.Popen(["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--port={self.port}",
                                         "--bind-address=127.0.0.1", f"--socket={self.socket}",
                                         f"--pid-file={self.directory}/mariadb.pid", "--skip-log-bin",
                                         "--innodb-flush-log-at-trx-commit=0", *user],
                                        stdout=self.log, stderr=self.log)
        self.wait_until_ready("mariadbd", lambda: os.path.exists(self.socket)
                              and self._client("root", "SELECT 1", check=False).returncode == 0)
        self._client("root", "CREATE DATABASE ectest; CREATE USER 'ectest'@'127.0.0.1' IDENTIFIED BY 'ectest'; "
                             "CREATE USER 'ectest'@'localhost' IDENTIFIED BY 'ectest'; "
                             "GRANT ALL ON ectest.* TO 'ectest'@'127.0.0.1'; GRANT ALL ON ectest.* TO 'ectest'@'localhost'")
        return self

    def _client(self, user, sql, check=True):
        command = ["mariadb", "--no-defaults", "-S", self.socket, "-u", user, "-N", "-B", "-e", sql]
        if user == "ectest":
            command[6:6] = ["-pectest", "ectest"]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)

    def sql(self, sql):
        return self._client("ectest", sql).stdout

    @property
    def uri(self):
        return f"mysql:host=127.0.0.1;port={self.port};dbname=ectest;user=ectest;password=ectest"

