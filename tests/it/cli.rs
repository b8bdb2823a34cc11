//! The real binary, driven like a user drives it: help, broken configs, `sso sign`/`decode`,
//! `config path|check|example`, and no secret in any output.
//!
//! Every run gets its own HOME / XDG dirs and data dir, and no `AVATAR_CONSOLE_*` variable from
//! the outside, so the machine's own config never leaks in.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::common::{Scratch, run_sync as run};

const SECRET: &str = "sso-secret-Ue8vQx41zz";
const API_KEY: &str = "api-key-7d1f0c2b9e3a";
const TOKEN: &str = "main-app-token-55aa11";

fn args(mut c: Command, a: &[&str]) -> Command {
    c.args(a);
    c
}

fn hmac_hex(secret: &str, text: &str) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(text.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sso and sig of a `sso=…&sig=…` line, the sso percent-decoded.
fn split_signed(line: &str) -> (String, String) {
    let rest = line.strip_prefix("sso=").expect("starts with sso=");
    let (sso, sig) = rest.split_once("&sig=").expect("has &sig=");
    let sso = percent_encoding::percent_decode_str(sso)
        .decode_utf8()
        .unwrap()
        .into_owned();
    (sso, sig.to_string())
}

fn python3() -> Option<&'static str> {
    Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "python3")
}

#[test]
fn help_lists_every_subcommand_and_global_flag() {
    let s = Scratch::new("help");
    let r = run(args(s.cmd(), &["--help"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for word in [
        "queue",
        "check",
        "reset",
        "logs",
        "sso",
        "sandbox",
        "config",
        "--config",
        "--demo",
        "--read-only",
        "--dry-run",
        "--user",
    ] {
        assert!(
            r.stdout.contains(word),
            "--help lacks {word}:\n{}",
            r.stdout
        );
    }
    for (sub, words) in [
        ("queue", &["--json", "--source"][..]),
        ("check", &["USER", "--json"]),
        (
            "reset",
            &[
                "USER",
                "--from",
                "--yes",
                "--strategy",
                "--no-verify",
                "--json",
            ],
        ),
        ("logs", &["--user", "--follow", "--json", "--all"]),
        (
            "sandbox",
            &[
                "--port",
                "--flagged",
                "--seed",
                "--plus-bug",
                "--hide-admin-emails",
                "--admin-rpm",
            ],
        ),
        ("sso", &["sign", "decode"]),
        ("config", &["path", "check", "example", "init"]),
    ] {
        let r = run(args(s.cmd(), &[sub, "--help"]));
        assert_eq!(r.code, 0, "{sub}: {}", r.stderr);
        for w in words {
            assert!(
                r.stdout.contains(w),
                "{sub} --help lacks {w}:\n{}",
                r.stdout
            );
        }
    }
    // The global flags that mean nothing to the sandbox stay out of its help (and are refused:
    // tests/it/sandbox_cmd.rs); the other subcommands still list them.
    let r = run(args(s.cmd(), &["sandbox", "--help"]));
    for flag in ["--demo", "--read-only", "--dry-run", "--config"] {
        assert!(
            !r.stdout.contains(flag),
            "sandbox --help lists {flag}:\n{}",
            r.stdout
        );
    }
    let r = run(args(s.cmd(), &["queue", "--help"]));
    for flag in ["--demo", "--read-only", "--dry-run", "--config"] {
        assert!(r.stdout.contains(flag), "queue --help lacks {flag}");
    }
    // `--strategy pick` says all it sends: the placeholder upload that clears the custom slot
    // too, not only the pick (src/reset/mod.rs, `pick` and `placeholder_upload`).
    let r = run(args(s.cmd(), &["reset", "--help"]));
    for w in ["POST /uploads.json", "type=custom", "type=system"] {
        assert!(
            r.stdout.contains(w),
            "reset --help lacks {w}:\n{}",
            r.stdout
        );
    }
    // A usage error is exit 2.
    let r = run(args(s.cmd(), &["reset"]));
    assert_eq!(r.code, 2);
    let r = run(args(s.cmd(), &["--no-such-flag"]));
    assert_eq!(r.code, 2);
}

#[test]
fn broken_configs_exit_2_naming_file_line_and_key() {
    let s = Scratch::new("broken");
    let cases: &[(&str, &str, &str, &str)] = &[
        // (name, text, expected "file:line:", key named)
        (
            "syntax.toml",
            "[discourse]\nurl = \"https://forum.example.com\"\napi_key = \"unterminated\n",
            "syntax.toml:3:",
            "syntax",
        ),
        (
            "unknown.toml",
            "[discourse]\nurl = \"https://forum.example.com\"\n\n\n\n\napi_kye = \"x\"\n",
            "unknown.toml:7:",
            "unknown key \"api_kye\" in [discourse]",
        ),
        (
            "nourl.toml",
            "\n[discourse]\napi_username = \"system\"\n",
            "nourl.toml:2:",
            "discourse.url",
        ),
        (
            "badurl.toml",
            "[discourse]\n# the forum\nurl = \"https//forum example\"\n",
            "badurl.toml:3:",
            "discourse.url",
        ),
        (
            "http.toml",
            "[discourse]\nurl = \"http://forum.example.com\"\n",
            "http.toml:2:",
            "discourse.url: plain http",
        ),
        (
            "strategy.toml",
            "[discourse]\nurl = \"https://forum.example.com\"\n[reset]\nstrategy = \"nuke\"\n",
            "strategy.toml:4:",
            "reset.strategy",
        ),
        (
            "section.toml",
            "[discourse]\nurl = \"https://forum.example.com\"\n[uii]\nmouse = true\n",
            "section.toml:3:",
            "[uii]",
        ),
    ];
    for (name, text, at, key) in cases {
        let path = s.write(name, text);
        let p = path.to_str().unwrap();
        for sub in [
            &["config", "check"][..],
            &["queue"],
            &["check", "alice"],
            &[],
        ] {
            let mut c = args(s.cmd(), &["--config", p]);
            c.args(sub);
            c.env("AVATAR_CONSOLE_API_KEY", API_KEY);
            let r = run(c);
            assert_eq!(r.code, 2, "{name} {sub:?}: {}", r.stderr);
            assert!(
                r.stderr.contains(at),
                "{name} {sub:?}: wanted {at:?} in {:?}",
                r.stderr
            );
            assert!(
                r.stderr.contains(key),
                "{name} {sub:?}: wanted {key:?} in {:?}",
                r.stderr
            );
            assert!(!r.stderr.contains(API_KEY));
        }
    }
    // $AVATAR_CONSOLE_CONFIG is used when --config is absent.
    let bad = s.path("unknown.toml");
    let mut c = args(s.cmd(), &["config", "check"]);
    c.env("AVATAR_CONSOLE_CONFIG", &bad);
    let r = run(c);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown.toml:7:"), "{}", r.stderr);
    // A missing API key names the key and the variable.
    let ok = s.write(
        "nokey.toml",
        "[discourse]\nurl = \"https://forum.example.com\"\n",
    );
    let r = run(args(
        s.cmd(),
        &["--config", ok.to_str().unwrap(), "config", "check"],
    ));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("nokey.toml: missing key discourse.api_key (or set AVATAR_CONSOLE_API_KEY)"),
        "{}",
        r.stderr
    );
    // A missing file says so.
    let r = run(args(
        s.cmd(),
        &["--config", s.path("nope.toml").to_str().unwrap(), "queue"],
    ));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("nope.toml") && r.stderr.contains("not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn sso_sign_verifies_with_an_independent_hmac() {
    let s = Scratch::new("sign");
    let mut c = args(
        s.cmd(),
        &[
            "sso",
            "sign",
            "external_id=684",
            "email=alice@example.com",
            "avatar_url=https://cdn.example.com/default avatar~1.png",
            "avatar_force_update=true",
            "name=Zoë & Ω = ~tilde~",
        ],
    );
    c.env("AVATAR_CONSOLE_SSO_SECRET", SECRET);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", r.stdout);
    let (sso, sig) = split_signed(lines[0]);
    assert!(!sso.contains('+'), "{sso}");
    assert_eq!(sig.len(), 64);
    assert_eq!(sig, hmac_hex(SECRET, &sso));
    // The payload is what we asked for.
    let inner = base64::engine::general_purpose::STANDARD
        .decode(&sso)
        .unwrap();
    let inner = String::from_utf8(inner).unwrap();
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(inner.as_bytes())
        .into_owned()
        .collect();
    assert!(
        fields.contains(&("name".into(), "Zoë & Ω = ~tilde~".into())),
        "{fields:?}"
    );
    assert!(fields.contains(&("avatar_force_update".into(), "true".into())));
    assert!(inner.contains("%7E"), "~ is escaped: {inner}");
    // And Python agrees, when it is here.
    if let Some(py) = python3() {
        let out = Command::new(py)
            .args([
                "-c",
                "import hmac,hashlib,sys;print(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha256).hexdigest())",
                SECRET,
                &sso,
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), sig);
    }
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));

    // Refusals: unknown field, not KEY=VALUE, bad boolean, and no secret anywhere.
    for bad in [
        &["external_id=1", "avatar_update=true"][..],
        &["external_id"],
        &["external_id=1", "admin=True"],
    ] {
        let mut c = args(s.cmd(), &["sso", "sign"]);
        c.args(bad).env("AVATAR_CONSOLE_SSO_SECRET", SECRET);
        let r = run(c);
        assert_eq!(r.code, 2, "{bad:?}");
        assert!(r.stdout.is_empty());
    }
    let r = run(args(s.cmd(), &["sso", "sign", "external_id=1"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("discourse.sso_secret") && r.stderr.contains("AVATAR_CONSOLE_SSO_SECRET"),
        "{}",
        r.stderr
    );

    // The secret from a config file works too.
    let cfg = s.write(
        "c.toml",
        &format!("[discourse]\nurl = \"https://forum.example.com\"\nsso_secret = \"{SECRET}\"\n"),
    );
    let r = run(args(
        s.cmd(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "sso",
            "sign",
            "external_id=9",
        ],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (sso, sig) = split_signed(r.stdout.trim());
    assert_eq!(sig, hmac_hex(SECRET, &sso));
}

#[test]
fn sso_decode_checks_the_signature() {
    let s = Scratch::new("decode");
    let mut c = args(
        s.cmd(),
        &[
            "sso",
            "sign",
            "external_id=684",
            "email=a@example.com",
            "name=A & B",
        ],
    );
    c.env("AVATAR_CONSOLE_SSO_SECRET", SECRET);
    let signed = run(c).stdout.trim().to_string();
    let (sso, sig) = split_signed(&signed);

    let decode = |input: &str, secret: Option<&str>| {
        let mut c = args(s.cmd(), &["sso", "decode", input]);
        if let Some(sec) = secret {
            c.env("AVATAR_CONSOLE_SSO_SECRET", sec);
        }
        run(c)
    };
    let r = decode(&signed, Some(SECRET));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "external_id=684\nemail=a@example.com\nname=A & B\nsignature: valid\n"
    );
    // A URL holding them.
    let r = decode(
        &format!("https://forum.example.com/admin/users/sync_sso?{signed}"),
        Some(SECRET),
    );
    assert_eq!(r.code, 0);
    assert!(r.stdout.ends_with("signature: valid\n"));
    // Wrong secret, changed signature.
    let r = decode(&signed, Some("another-secret-123"));
    assert_eq!(r.code, 1);
    assert!(r.stdout.ends_with("signature: INVALID\n"), "{}", r.stdout);
    let mut tampered = sig.clone();
    tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
    let r = decode(
        &format!("sso={}&sig={tampered}", percent(&sso)),
        Some(SECRET),
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("signature: INVALID"));
    // Upper-case hex is refused by Discourse, so by us.
    let r = decode(
        &format!("sso={}&sig={}", percent(&sso), sig.to_uppercase()),
        Some(SECRET),
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("lower-case"), "{}", r.stderr);
    // No secret, or bare Base64: not checked, exit 0, and no config file needed.
    let r = decode(&signed, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with("signature: not checked\n"));
    let r = decode(&sso, Some(SECRET));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with("external_id=684\n") && r.stdout.ends_with("signature: not checked\n")
    );
    // Garbage: a clear error, exit 2.
    for bad in ["", "!!!", "sso=abc_-&sig=00", "sso=%G1&sig=00"] {
        let r = decode(bad, Some(SECRET));
        assert_eq!(r.code, 2, "{bad:?}");
        assert!(r.stderr.starts_with("error: "), "{bad:?}: {}", r.stderr);
    }
    // Unknown keys are named.
    let b64 = base64::engine::general_purpose::STANDARD.encode("external_id=1&avatar_update=true");
    let r = decode(&b64, None);
    assert!(r.stderr.contains("avatar_update"), "{}", r.stderr);
    for r in [decode(&signed, Some(SECRET)), decode(&signed, Some("x"))] {
        assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
    }
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A newcomer's first config: `config init` at the default path (its folder does not exist yet),
/// private, never overwritten; `config check` warns when the secrets in it are readable by others.
#[cfg(unix)]
#[test]
fn config_init_creates_the_folder_writes_privately_and_check_warns_like_ssh() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("cfginit");
    let r = run(args(s.cmd(), &["config", "init"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let path = std::path::PathBuf::from(r.stdout.trim());
    assert!(path.starts_with(s.path("home")), "{}", path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[discourse]") && text.contains("#[keys]"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // `config path` now finds it.
    let r = run(args(s.cmd(), &["config", "path"]));
    assert_eq!(r.stdout.trim(), path.to_str().unwrap());
    assert!(r.stderr.contains("exists"), "{}", r.stderr);
    // Never overwritten.
    std::fs::write(&path, "# mine\n").unwrap();
    let r = run(args(s.cmd(), &["config", "init"]));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    // --demo needs no file.
    let r = run(args(s.cmd(), &["--demo", "config", "init"]));
    assert_eq!(r.code, 2, "{}", r.all());

    // A key in a file others can read: a warning, the check still runs.
    let body =
        format!("[discourse]\nurl = \"https://forum.example.com\"\napi_key = \"{API_KEY}\"\n");
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = run(args(s.cmd(), &["config", "check"]));
    assert!(
        r.stderr
            .contains("can be read by others (mode 0644): chmod 600"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("OK"), "{}", r.all());
    assert!(!r.all().contains(API_KEY));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(args(s.cmd(), &["config", "check"]));
    assert!(!r.stderr.contains("read by others"), "{}", r.stderr);
}

#[test]
fn config_example_path_and_check() {
    let s = Scratch::new("cfgcmd");
    let r = run(args(s.cmd(), &["config", "example"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("[discourse]") && r.stdout.contains("[reset]"));
    let path = s.write("example.toml", &r.stdout);
    let p = path.to_str().unwrap();
    let mut c = args(s.cmd(), &["--config", p, "config", "check"]);
    c.env("AVATAR_CONSOLE_API_KEY", API_KEY);
    let r = run(c);
    // The example's forum does not exist: the file is OK, the check as a whole is not.
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("OK"), "{}", r.stdout);
    assert!(r.stdout.contains("server check"), "{}", r.stdout);
    assert!(r.stderr.contains("key could not be tried"), "{}", r.all());

    // config path: --config, then $AVATAR_CONSOLE_CONFIG, then the default; says if it exists.
    let r = run(args(s.cmd(), &["--config", p, "config", "path"]));
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.trim(), p);
    assert!(
        r.stderr.contains("exists") && !r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    let mut c = args(s.cmd(), &["config", "path"]);
    c.env("AVATAR_CONSOLE_CONFIG", s.path("elsewhere.toml"));
    let r = run(c);
    assert_eq!(Path::new(r.stdout.trim()), s.path("elsewhere.toml"));
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = run(args(s.cmd(), &["config", "path"]));
    assert!(r.stdout.trim().ends_with("config.toml"), "{}", r.stdout);
    assert!(
        r.stdout
            .trim()
            .starts_with(s.path("").to_str().unwrap().trim_end_matches('/')),
        "default is under HOME: {}",
        r.stdout
    );
}

#[test]
fn unbuilt_commands_say_so() {
    let s = Scratch::new("unbuilt");
    let cfg = s.write(
        "c.toml",
        "[discourse]\nurl = \"https://forum.example.com\"\n",
    );
    let cfg = cfg.to_str().unwrap();
    // (`sandbox` is left out: once built it serves until stopped.)
    for sub in [
        &["queue"][..],
        &["check", "alice"],
        &["reset", "alice", "--yes"],
        &["logs"],
    ] {
        let mut c = args(s.cmd(), &["--config", cfg]);
        c.args(sub).env("AVATAR_CONSOLE_API_KEY", API_KEY);
        let r = run(c);
        // Either the placeholder (exit 2, "not built yet") or the real command, which cannot
        // reach forum.example.com here: never a success, never a secret.
        assert_ne!(r.code, 0, "{sub:?}");
        assert!(!r.stdout.contains(API_KEY) && !r.stderr.contains(API_KEY));
    }
}

#[test]
fn secrets_never_appear_in_output_or_log() {
    let s = Scratch::new("secrets");
    let full = s.write(
        "full.toml",
        &format!(
            "[discourse]\nurl = \"https://forum.example.com\"\napi_key = \"{API_KEY}\"\n\
             sso_secret = \"{SECRET}\"\ndefault_avatar_url = \"https://cdn.example.com/d.png\"\n\
             [main_app]\nflagged_url = \"https://app.example.com/f\"\ntoken = \"{TOKEN}\"\n"
        ),
    );
    // Broken files whose bad line holds a secret.
    let syntax = s.write(
        "syntax.toml",
        &format!(
            "[discourse]\nurl = \"https://forum.example.com\"\napi_key = \"{API_KEY}\" junk\n"
        ),
    );
    let typed = s.write(
        "typed.toml",
        &format!("[discourse]\nurl = \"https://forum.example.com\"\nsso_secret = [\"{SECRET}\"]\n"),
    );
    let unknown = s.write(
        "unknown.toml",
        &format!("[discourse]\nurl = \"https://forum.example.com\"\napi_kee = \"{API_KEY}\"\n"),
    );
    let mut runs = Vec::new();
    for (file, sub) in [
        (&full, &["config", "check"][..]),
        (&full, &["config", "path"]),
        (&full, &["sso", "sign", "external_id=1"]),
        (&full, &["queue", "--json"]),
        (&syntax, &["config", "check"]),
        (&typed, &["config", "check"]),
        (&unknown, &["config", "check"]),
        (&typed, &["sso", "decode", "sso=YQ%3D%3D&sig=00"]),
    ] {
        let mut c = args(s.cmd(), &["--config", file.to_str().unwrap()]);
        c.args(sub);
        runs.push((sub, run(c)));
    }
    // And the environment's secrets.
    let mut c = args(
        s.cmd(),
        &["--config", full.to_str().unwrap(), "config", "check"],
    );
    c.env("AVATAR_CONSOLE_API_KEY", "env-api-key-0123456789")
        .env("AVATAR_CONSOLE_SSO_SECRET", "env-sso-secret-0123456789")
        .env("AVATAR_CONSOLE_MAIN_APP_TOKEN", "env-token-0123456789");
    runs.push((&["config", "check", "(env)"][..], run(c)));
    for (sub, r) in &runs {
        for secret in [
            API_KEY,
            SECRET,
            TOKEN,
            "env-api-key-0123456789",
            "env-sso-secret-0123456789",
            "env-token-0123456789",
        ] {
            assert!(
                !r.stdout.contains(secret) && !r.stderr.contains(secret),
                "{sub:?} printed a secret:\n{}\n{}",
                r.stdout,
                r.stderr
            );
        }
    }
    // Sanity: the broken ones did fail, naming a line.
    assert!(
        runs[4].1.code == 2 && runs[4].1.stderr.contains("syntax.toml:3:"),
        "{}",
        runs[4].1.stderr
    );
    assert!(
        runs[5].1.code == 2 && runs[5].1.stderr.contains("typed.toml:3:"),
        "{}",
        runs[5].1.stderr
    );
    assert!(
        runs[6].1.code == 2 && runs[6].1.stderr.contains("unknown.toml:3:"),
        "{}",
        runs[6].1.stderr
    );
    // The log file holds no secret either.
    let log = std::fs::read_to_string(s.path("data/avatar-console.log")).unwrap_or_default();
    assert!(!log.is_empty(), "the log file is written");
    for secret in [API_KEY, SECRET, TOKEN] {
        assert!(!log.contains(secret), "log holds a secret");
    }
}

/// `--demo` keeps its application log and audit apart from real work (`<data dir>/demo/`).
#[test]
fn demo_runs_log_and_audit_apart_from_real_work() {
    let s = Scratch::new("demo-apart");
    let r = run(args(
        s.cmd(),
        &["--demo", "--dry-run", "reset", "alice", "--yes"],
    ));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stderr.contains("plain http"), "{}", r.stderr);
    let demo_log = std::fs::read_to_string(s.path("data/demo/avatar-console.log")).unwrap();
    assert!(demo_log.contains("demo sandbox started"), "{demo_log}");
    assert!(
        !s.path("data/avatar-console.log").exists(),
        "the demo wrote to the real log"
    );
    assert!(!s.path("data/audit.jsonl").exists());
    let audit = std::fs::read_to_string(s.path("data/demo/audit.jsonl")).unwrap();
    // A dry run too: an intent, then its outcome.
    let phases: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["phase"].to_string())
        .collect();
    assert_eq!(phases, ["\"intent\"", "\"outcome\""], "{audit}");
}

/// `config check` of a forum that does not answer exits 1 and says the key was not tried (it
/// used to exit 0, as if checked); a budget above Discourse's default 60 a minute is a warning
/// that names the site's own limit, the check still passing where the server answers.
#[tokio::test]
async fn config_check_fails_when_the_forum_cannot_be_reached_and_warns_of_a_large_budget() {
    let s = Scratch::new("cfg-unreachable");
    // A port nobody listens on: connection refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = s.write(
        "closed.toml",
        &format!(
            "[discourse]\nurl = \"http://127.0.0.1:{port}\"\napi_key = \"{API_KEY}\"\nrequests_per_minute = 1000\n"
        ),
    );
    let r = crate::common::run(args(
        s.cmd(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    ))
    .await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("not reachable"), "{}", r.all());
    assert!(r.stdout.contains("key: not checked"), "{}", r.all());
    assert!(
        r.stderr.contains("could not be reached") && r.stderr.contains("key could not be tried"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("requests_per_minute = 1000")
            && r.stderr.contains("max_admin_api_reqs_per_minute")
            && r.stderr.contains("shared by every admin API key"),
        "{}",
        r.all()
    );
    assert!(!r.all().contains(API_KEY));

    // A forum that answers: the warning, and a pass.
    let sb = discourse_sandbox::Sandbox::start(discourse_sandbox::Scenario::default())
        .await
        .unwrap();
    let config = sb
        .config_toml()
        .replace("requests_per_minute = 60", "requests_per_minute = 120");
    let file = s.write("sandbox.toml", &config);
    let r = crate::common::run(args(
        s.cmd(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("key: works"), "{}", r.all());
    assert!(
        r.stderr.contains("max_admin_api_reqs_per_minute"),
        "{}",
        r.all()
    );
    // At the default, no such warning.
    let file = s.write("sandbox60.toml", &sb.config_toml());
    let r = crate::common::run(args(
        s.cmd(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !r.stderr.contains("max_admin_api_reqs_per_minute"),
        "{}",
        r.all()
    );
}

/// What README.md tells a newcomer to type matches the binary: every `cargo run` is the release
/// build the first command made (a plain `cargo run` is a second, 3.5-minute debug build), and
/// the file `config init` writes is the one the README names.
#[test]
fn readme_commands_use_one_build_and_name_the_file_config_init_writes() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let runs: Vec<&str> = readme
        .match_indices("cargo run")
        .map(|(i, _)| &readme[i..(i + 30).min(readme.len())])
        .collect();
    assert!(runs.len() >= 5, "{runs:?}");
    for r in &runs {
        assert!(r.starts_with("cargo run --release"), "README: {r:?}");
    }
    let s = Scratch::new("readme-init");
    let r = run(args(s.cmd(), &["config", "init"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let written = Path::new(r.stdout.trim());
    assert!(written.is_file(), "{}", r.all());
    let name = written.file_name().unwrap().to_str().unwrap();
    let init = readme
        .split("`config init` creates")
        .nth(1)
        .expect("README describes config init");
    let init = &init[..init.find("\n\n").unwrap_or(init.len())];
    assert!(init.contains(&format!("`{name}`")), "README says: {init}");
    assert!(!init.contains("config.example.toml"), "README says: {init}");
}
