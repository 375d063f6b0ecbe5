"""A private PostgreSQL 15 server for end-to-end and cluster tests (the Python twin of
tests/support/postgres_server.h): initdb into a fresh temporary directory, pg_ctl start on a free
loopback port with the socket in the same directory, stopped and removed by stop()/cleanup(). No
system service is used. PostgreSQL refuses to run as root, so under root the server runs as the
`postgres` user the Debian package creates (runuser).

Login: superuser USER with PASSWORD over TCP (scram-sha-256: a wrong password is refused), trust on
the socket. Durability is off: the data dies with the test.

    with PostgresServer() as pg:
        uri = pg.create_database("e2e")     # postgresql://facefuse:...@127.0.0.1:PORT/e2e
"""
import os
import shutil
import subprocess
import tempfile

from service_harness import free_port

BIN = "/usr/lib/postgresql/15/bin"
USER = "facefuse"
PASSWORD = "facefuse-test-password"


TASK_COMMIT_AUDIT_SQL = """
CREATE TABLE task_commits (task_id BIGINT NOT NULL, job_id TEXT NOT NULL, kind TEXT NOT NULL, chunk_index INT NOT NULL,
                           owner TEXT NOT NULL, attempts INT NOT NULL);
CREATE FUNCTION audit_task_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_commits VALUES (NEW.id, NEW.job_id, NEW.kind, NEW.chunk_index, OLD.lease_owner, NEW.attempts);
  RETURN NEW;
END $$;
CREATE TRIGGER audit_task_commit AFTER UPDATE OF state ON tasks
  FOR EACH ROW WHEN (OLD.state <> 'done' AND NEW.state = 'done') EXECUTE FUNCTION audit_task_commit();
"""


def lease_owner_pid(owner):
    """The process id in a task's lease owner ("<host>:<pid>/<worker>")."""
    return owner.split("/")[0].rsplit(":", 1)[-1]


class PostgresServer:
    def __init__(self):
        self.dir = None
        self.port = None
        self.running = False

    def _as_server_user(self, argv):
        return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv

    def _run(self, argv, **kw):
        return subprocess.run(self._as_server_user(argv), check=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, **kw)

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="facefuse-pg-")
            pwfile = os.path.join(self.dir, "pwfile")
            with open(pwfile, "w") as f:
                f.write(PASSWORD + "\n")
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres")
                shutil.chown(pwfile, "postgres")
            self._run([f"{BIN}/initdb", "-D", self.data, "-U", USER, f"--pwfile={pwfile}", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions"])
            self.port = free_port()
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([f"{BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                   "-o", options, "start"])
        self.running = True
        return self

    def stop(self, mode="fast"):
        if self.running:
            self._run([f"{BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])
            self.running = False

    def cleanup(self):
        try:
            self.stop(mode="immediate")
        finally:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def psql(self, database, sql):
        self._run(["/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port),
                   "-U", USER, "-d", database, "-c", sql])

    def query(self, database, sql):
        """The rows of one SELECT, each a tuple of column texts (psql's unaligned output)."""
        out = subprocess.run(self._as_server_user(
            ["/usr/bin/psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p",
             str(self.port), "-U", USER, "-d", database, "-c", sql]), check=True, capture_output=True, text=True)
        return [tuple(line.split("\x1f")) for line in out.stdout.splitlines() if line]

    def audit_task_commits(self, database):
        """Installs a trigger on the job store's tasks table that records every transition of a task
        to `done` (a commit of its result) in the committing transaction, into task_commits (task_id,
        job_id, kind, chunk_index, owner = the lease owner, attempts): two rows for one task would be
        a task committed twice. Call after the store has made its schema."""
        self.psql(database, TASK_COMMIT_AUDIT_SQL)

    def uri(self, database, password=PASSWORD):
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
