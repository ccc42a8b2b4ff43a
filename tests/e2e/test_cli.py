"""impulse check-config and spool list as an operator uses them."""
import subprocess

from conftest import BIN, ROOT_FLAG


def check(tmp_path, text):
    config = tmp_path / "ecelerity.conf"
    config.write_text(text)
    return subprocess.run([BIN, "check-config", "--config", str(config)], capture_output=True, text=True), config


def test_check_config_accepts_the_example(tmp_path):
    from conftest import ROOT
    result = subprocess.run([BIN, "check-config", "--config", str(ROOT / "examples" / "ecelerity.conf")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "127.0.0.1:2525" in result.stdout


def test_check_config_reports_file_line_column(tmp_path):
    result, config = check(tmp_path, 'ESMTP_Listener {\n  Listen "127.0.0.1:25" {\n    idle_time = never\n  }\n}\n')
    assert result.returncode == 2
    assert f"{config}:3:17: error: 'idle_time' expects an integer, found 'never'" in result.stderr
    result, config = check(tmp_path, 'ESMTP_Listener {\n  Listen "127.0.0.1:25" {}\n')
    assert result.returncode == 2 and f"{config}:3:1: error: expected '}}'" in result.stderr


def test_check_config_warns_about_unsupported_options(tmp_path):
    result, config = check(tmp_path, 'connection_allocation_aggressiveness = high\nESMTP_Listener { Listen "127.0.0.1:25" {} }\n')
    assert result.returncode == 0
    assert f"{config}:1:1: warning: option 'connection_allocation_aggressiveness' is not supported yet (ignored)" in result.stderr


def test_serve_refuses_a_bad_config(tmp_path):
    config = tmp_path / "ecelerity.conf"
    config.write_text("bogus_option = 1\n")
    result = subprocess.run([BIN, "serve", "--config", str(config)] + ROOT_FLAG, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "unknown option 'bogus_option'" in result.stderr
