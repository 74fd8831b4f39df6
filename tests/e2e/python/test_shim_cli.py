"""The command line every shim shares (services/common/shim_cli.c), run as real programs.

Bad options exit 2 with a message naming the option, before anything listens:
--listen addresses gRPC core would have bound somewhere else (port 99999,
65536, none), TLS files that cannot be read, unknown --config keys (named with
their file and line), and each ML shim's own option values (--backend,
--model-repository, ...). A bind that fails exits 1 with the port hint. --help
has no doubled blank line, also for the router (no options of its own through
shim_cli). The programs come from $SHIMKIT_ECHO_SHIM and, when set,
$SHIMKIT_ROUTER, $SHIMKIT_FEATURE_STORE_SHIM, $SHIMKIT_MODEL_REPOSITORY_SHIM,
$SHIMKIT_MODEL_EXECUTION_SHIM and $SHIMKIT_TRAINING_SHIM.
"""
import os
import shlex
import socket
import subprocess

import pytest

FORMS = "want HOST:PORT, [IPv6]:PORT (PORT 0..65535, 0 = any free port) or unix:PATH"


def program(env):
    cmd = os.environ.get(env)
    if not cmd:
        pytest.skip(f"{env} is not set")
    return shlex.split(cmd)


def run(argv, timeout=20, cwd=None):
    """Runs a program that must exit by itself (a bad option never serves)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("addr,why", [
    ("127.0.0.1:99999", "the port 99999 is out of range (0..65535)"),
    ("127.0.0.1:65536", "the port 65536 is out of range (0..65535)"),
    ("127.0.0.1:", "no port after the ':'"),
    ("127.0.0.1:http", "the port 'http' is not a number"),
    ("notanaddress", "no ':PORT'"),
    ("[::1]:99999", "the port 99999 is out of range (0..65535)"),
    ("unix:", "unix: needs a path"),
])
def test_bad_listen_address_exits_2_naming_it(addr, why):
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", addr])
    assert r.returncode == 2, r.stderr
    assert f"echo_shim: --listen '{addr}' is not a valid address: {why}; {FORMS}" in r.stderr
    assert "listening on" not in r.stderr
    assert "the bind failed" not in r.stderr


def test_router_refuses_a_bad_listen_port_too():
    r = run(program("SHIMKIT_ROUTER") + ["--listen", "127.0.0.1:99999", "--backend", "127.0.0.1:50070"])
    assert r.returncode == 2, r.stderr
    assert "shimkit_router: --listen '127.0.0.1:99999' is not a valid address" in r.stderr


def test_missing_tls_file_is_named():
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem",
                                             "--tls-key", "/nonexistent/key.pem"])
    assert r.returncode == 2, r.stderr
    assert "echo_shim: cannot read --tls-cert /nonexistent/cert.pem: No such file or directory" in r.stderr
    assert "the bind failed" not in r.stderr


def test_tls_file_that_is_not_pem_says_so_without_the_port_hint(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", "127.0.0.1:0", "--tls-cert", str(junk),
                                             "--tls-key", str(junk)])
    assert r.returncode == 1, r.stderr
    assert "not PEM" in r.stderr
    assert "cannot listen on 127.0.0.1:0: invalid argument (see the line above)" in r.stderr
    assert "the bind failed" not in r.stderr


def test_port_in_use_gives_the_port_hint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", f"127.0.0.1:{port}"])
    assert r.returncode == 1, r.stderr
    assert (f"cannot listen on 127.0.0.1:{port}: the bind failed (port {port} is in use (--listen 127.0.0.1:0 "
            "picks a free port))") in r.stderr


def test_host_that_does_not_resolve_is_named():
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", "nohost.invalid:50051"])
    assert r.returncode == 1, r.stderr
    assert "cannot listen on nohost.invalid:50051: the bind failed (nohost.invalid does not resolve (" in r.stderr
    assert "port" not in r.stderr.split("the bind failed", 1)[1]


def test_unix_socket_in_a_missing_folder_is_named(tmp_path):
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--listen", f"unix:{tmp_path}/missing/echo.sock"])
    assert r.returncode == 1, r.stderr
    assert f"the bind failed (its folder {tmp_path}/missing: No such file or directory)" in r.stderr


def test_unknown_config_key_names_file_and_line(tmp_path):
    conf = tmp_path / "echo.conf"
    conf.write_text("# a comment\nworkers = 4\nbogus = 1\n")
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--config", str(conf)])
    assert r.returncode == 2, r.stderr
    assert f"echo_shim: {conf}:3: unknown option 'bogus'" in r.stderr
    assert "unrecognized option" not in r.stderr


def test_config_flag_and_value_mistakes_name_file_and_line(tmp_path):
    conf = tmp_path / "echo.conf"
    conf.write_text("no-access-log = yes\n")
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--config", str(conf)])
    assert r.returncode == 2, r.stderr
    assert f"{conf}:1: 'no-access-log' is a flag" in r.stderr
    conf.write_text("\nworkers\n")
    r = run(program("SHIMKIT_ECHO_SHIM") + ["--config", str(conf)])
    assert r.returncode == 2, r.stderr
    assert f"{conf}:2: option 'workers' needs a value" in r.stderr


@pytest.mark.parametrize("env,args,message", [
    ("SHIMKIT_FEATURE_STORE_SHIM", ["--backend", "mysql"],
     'feature_store_shim: --backend must be sqlite or redis, not "mysql"'),
    ("SHIMKIT_MODEL_REPOSITORY_SHIM", ["--backend", "s3"],
     "model_repository_shim: --backend wants fs or postgres, got 's3'"),
    ("SHIMKIT_MODEL_REPOSITORY_SHIM", ["--backend", "postgres"],
     "model_repository_shim: --backend postgres needs --postgres-dsn DSN"),
    ("SHIMKIT_MODEL_REPOSITORY_SHIM", ["--max-artifact-bytes", "-5"],
     "model_repository_shim: --max-artifact-bytes wants a positive number, got '-5'"),
    ("SHIMKIT_MODEL_EXECUTION_SHIM", [],
     "model_execution_shim: --model-repository HOST:PORT is required"),
    ("SHIMKIT_MODEL_EXECUTION_SHIM", ["--model-repository", "127.0.0.1:9", "--max-models", "0"],
     'model_execution_shim: --max-models must be a number from 1 to 1024, not "0"'),
    ("SHIMKIT_TRAINING_SHIM", ["--model-repository", "127.0.0.1:9", "--backend", "sklearn"],
     'training_shim: --backend must be liblinear, libsvm'),
    ("SHIMKIT_TRAINING_SHIM", [],
     "training_shim: --model-repository HOST:PORT is required"),
    ("SHIMKIT_TRAINING_SHIM", ["--model-repository", "127.0.0.1:9", "--max-queued", "x"],
     'training_shim: --max-queued must be a number from 1 to 1024, not "x"'),
])
def test_bad_ml_shim_option_exits_2_naming_it(env, args, message, tmp_path):
    r = run(program(env) + ["--listen", "127.0.0.1:0"] + args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "cannot start" not in r.stderr
    assert "listening on" not in r.stderr
    assert list(tmp_path.iterdir()) == [], "a refused option must not create files"


@pytest.mark.parametrize("env", ["SHIMKIT_ECHO_SHIM", "SHIMKIT_ROUTER", "SHIMKIT_FEATURE_STORE_SHIM",
                                 "SHIMKIT_MODEL_REPOSITORY_SHIM", "SHIMKIT_MODEL_EXECUTION_SHIM",
                                 "SHIMKIT_TRAINING_SHIM"])
def test_help_has_no_doubled_blank_line(env):
    r = run(program(env) + ["--help"])
    assert r.returncode == 0, r.stderr
    assert "\n\n\n" not in r.stdout, r.stdout
    assert "common to every shim:" in r.stdout


def test_model_execution_help_names_its_runtimes():
    r = run(program("SHIMKIT_MODEL_EXECUTION_SHIM") + ["--help"])
    assert "(liblinear, libsvm" in r.stdout and "There is no --backend" in r.stdout, r.stdout
    assert "--backend NAME" not in r.stdout


@pytest.mark.parametrize("env,args,made", [
    ("SHIMKIT_FEATURE_STORE_SHIM", ["--db", "data/deep/features.db"], "data/deep/features.db"),
    ("SHIMKIT_MODEL_REPOSITORY_SHIM", ["--data-dir", "data/deep/models"], "data/deep/models/metadata.sqlite3"),
])
def test_file_back_ends_create_missing_folders(env, args, made, tmp_path):
    """A stack file's data/features.db or data/models works in a fresh folder (mkdir -p, 0755)."""
    argv = program(env) + ["--listen", "127.0.0.1:0"] + args
    proc = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        err = ""
        for line in proc.stderr:
            err += line
            if "listening on" in line:
                break
        assert "listening on" in err, err
        assert (tmp_path / made).exists()
        for d in ("data", "data/deep"):
            assert (tmp_path / d).stat().st_mode & 0o777 == 0o755
    finally:
        proc.terminate()
        proc.wait(timeout=20)
