"""msys.db against real databases started on loopback: an SQLite file, PostgreSQL and MariaDB
(tests/e2e/databases.py). RCPT answers decided by table look-ups, as SparkPost's public ds_mysql
tests do, console commands doing create/insert/select/update/delete through msys.db, caching with
`ds_core flush` and `ds_core stats`, fail-over between URIs, and databases that are not there."""
import smtplib
import sqlite3
import subprocess
import time

import pytest

from conftest import BIN
from databases import MariaDB, PostgreSQL, closed_port
from test_console import console
from test_policy import policy_server

# SparkPost's ds_mysql mysql_lua.t scenario, in Threaded Lua as Momentum scripts are written.
# PostgreSQL names an unnamed column "?column?" where MySQL and SQLite name it "1": its query
# names the column.
LOOKUP = """
require('msys.core');
require('msys.extended.message');
require('msys.datasource');
require('msys.db');

local mod = {};
function mod:validate_rcptto(ec_message, rcptto_str, accept_construct, vctx)
  local rcptto = string.match(ec_message:rcptto(), '(.*)@');
  local query = 'QUERY';
  local rowA, errA = msys.db.fetch_row("DS", query, {rcptto}, {raise_error = false});
  local rowB, errB = msys.db.fetch_row("DS", query, {rcptto}, {raise_error = false});
  if (errA != nil) then
    vctx:set_code(451, "4.3.0 lookup failed: " .. tostring(errA));
  elseif (rowA == nil or rowB == nil or rowA["1"] != "1" or rowB["1"] != "1") then
    vctx:set_code(550, "testing1");
  end
  return msys.core.VALIDATE_CONT;
end
msys.registerModule('dat', mod);
"""

# SparkPost's mysql_CRUD.t, as console commands.
CRUD = """
require("msys.db")
require("msys.datasource")
local function say(st, ab) if st == false then print(tostring(ab)) else print("success") end end
msys.registerControl("prep_table", function() say(msys.db.execute("DS", "create table mo2042 (name VARCHAR(200), note VARCHAR(20))")) end)
msys.registerControl("drop_table", function() say(msys.db.execute("DS", "drop table mo2042")) end)
msys.registerControl("insert", function()
  local st, ab = msys.db.execute("DS", "INSERT INTO mo2042 VALUES(?, ?) -- ?", {"insert", nil, "x"}, {raise_error = false})
  print(st == false and ("failed: " .. tostring(ab)) or ("inserted " .. tostring(ab)))
end)
msys.registerControl("update", function()
  local st, ab = msys.db.execute("DS", "UPDATE mo2042 SET name=:new where name=:old", {new = "update", old = "insert"}, {raise_error = 0})
  print(st == false and "failed" or ("updated " .. tostring(ab)))
end)
msys.registerControl("delete", function()
  local st = msys.db.execute("DS", "DELETE FROM mo2042", {raise_error = false})
  print(st == false and "failed" or "")
end)
msys.registerControl("retrieve", function()
  local st, err = msys.db.query("DS", "SELECT name, note from mo2042", {raise_error = 0, nocache = true})
  if (st == nil) then print("error: " .. err); return end
  for row in st do print(row.name .. "/" .. tostring(row.note)) end
end)
msys.registerControl("bad_sql", function()
  local ok, err = pcall(msys.db.query, "DS", "SELEC nonsense")
  print(ok and "no error" or err)
end)
"""


def lookup_script(uri):
    column = ' as "1"' if uri.startswith("pgsql:") else ""
    return LOOKUP.replace("QUERY", f"select 1{column} from accounts where name = ?")


def datasource_server(server_factory, uris, datasource_options="", scripts=None):
    server = policy_server(server_factory, scripts or {"lookup": lookup_script(uris[-1]), "crud": CRUD},
                           body='  relay_domains = ( "foo.com" "bar.com" )')
    uri_list = " ".join(f'"{uri}"' for uri in uris)
    server.config.write_text(server.config.read_text()
                             + f'Datasource "DS" {{\n  uri = ( {uri_list} )\n  {datasource_options}\n}}\n'
                             + 'Control_Listener {\n  Listen "ctl.sock" { File_Mode = 0600 }\n}\n')
    return server


def rcpt_codes(server, recipients):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.test")
        assert client.mail("good@test.messagesystems.com")[0] == 250
        return [client.rcpt(r)[0] for r in recipients]


def command(server, *words):
    result = console(server, *words)
    return result.stdout


@pytest.fixture(params=["sqlite", "pgsql", "mysql"])
def database(request, tmp_path):
    """A database with SparkPost's `accounts` table, and how to reach it and change it."""
    if request.param == "sqlite":
        path = tmp_path / "ectest.db"

        class SQLite:
            uri = f"sqlite:{path}"

            def sql(self, text):
                with sqlite3.connect(path) as db:
                    db.executescript(text)

            def stop(self):
                pass
        server = SQLite()
    else:
        server = (PostgreSQL() if request.param == "pgsql" else MariaDB()).start()
    server.sql("CREATE TABLE accounts (name varchar(255) NOT NULL PRIMARY KEY);"
               "INSERT INTO accounts VALUES ('good'),('good1'),('good2'),('good3'),('good4');")
    yield server
    server.stop()


def test_rcpt_decided_by_table_lookups(server_factory, database):
    server = datasource_server(server_factory, [database.uri], "cache_size = 2").start()
    assert rcpt_codes(server, ["good@foo.com", "good1@foo.com", "good2@foo.com", "good3@bar.com", "good4@bar.com",
                               "bad@bar.com"]) == [250, 250, 250, 250, 250, 550]


def test_crud_through_console_commands(server_factory, database):
    server = datasource_server(server_factory, [database.uri], "no_cache = true").start()
    assert command(server, "prep_table") == "success\n"
    assert command(server, "insert") == "inserted 1\n"
    assert command(server, "retrieve") == "insert/nil\n"
    assert command(server, "update") == "updated 1\n"
    assert command(server, "retrieve") == "update/nil\n"
    assert command(server, "delete") == "\n"
    assert command(server, "retrieve") == ""
    # A statement the database refuses raises a Lua error naming the call and the database's reason.
    assert command(server, "bad_sql").startswith("msys.db.query: ")
    assert command(server, "drop_table") == "success\n"
    assert "no such table" in command(server, "retrieve") or "mo2042" in command(server, "retrieve")


def test_cached_results_until_flushed(server_factory, database):
    server = datasource_server(server_factory, [database.uri]).start()
    assert rcpt_codes(server, ["new@foo.com"]) == [550]
    database.sql("INSERT INTO accounts VALUES ('new');")
    # The negative answer is cached (cache_life 3600 by default) until the cache is flushed.
    assert rcpt_codes(server, ["new@foo.com"]) == [550]
    stats = command(server, "ds_core", "stats")
    assert stats.startswith("DS: queries=1 cache_hits=3 errors=0"), stats
    assert command(server, "ds_core", "flush", "DS") == "ds_core: flushed the cache of DS\n"
    assert rcpt_codes(server, ["new@foo.com"]) == [250]
    assert console(server, "ds_core", "flush", "nothere").returncode == 1


def test_failover_to_the_next_uri(server_factory, tmp_path):
    live = tmp_path / "live.db"
    with sqlite3.connect(live) as db:
        db.executescript("CREATE TABLE accounts (name text); INSERT INTO accounts VALUES ('good');")
    dead = f"pgsql:host=127.0.0.1;port={closed_port()};dbname=ectest;user=ectest;password=ectest"
    server = datasource_server(server_factory, [dead, f"sqlite:{live}"], "no_cache = true").start()
    assert rcpt_codes(server, ["good@foo.com", "bad@foo.com", "good@bar.com"]) == [250, 550, 250]
    stats = command(server, "ds_core", "stats")
    assert "connect_failures=1" in stats and "errors=0" in stats, stats


@pytest.mark.parametrize("uri", [
    "pgsql:host=127.0.0.1;port={port};dbname=ectest;user=ectest;password=ectest",
    "mysql:host=127.0.0.1;port={port};dbname=ectest;user=ectest;password=ectest",
    "sqlite:/nonexistent-directory/x.db",
])
def test_a_database_that_is_not_there(server_factory, uri):
    server = datasource_server(server_factory, [uri.format(port=closed_port())], "no_cache = true").start()
    started = time.time()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@test.example")
        code, text = client.rcpt("good@foo.com")
        assert code == 451 and b"lookup failed" in text, (code, text)
        # The next look-up fails at once: the URI is skipped for a while, not tried again.
        second = time.time()
        assert client.rcpt("good@bar.com")[0] == 451
        assert time.time() - second < 2
    assert time.time() - started < 12


def test_configuration_errors_have_locations(server_factory):
    server = datasource_server(server_factory, ["oracle:host=x"])
    checked = subprocess.run([BIN, "check-config", "--config", str(server.config)], capture_output=True, text=True)
    assert checked.returncode != 0
    assert "ecelerity.conf:" in checked.stderr and "datasource driver 'oracle' is not supported" in checked.stderr
