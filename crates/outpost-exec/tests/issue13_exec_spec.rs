//! Issue 13, the allowlist as config: a `[commands.NAME]` table that could splice a value
//! into part of an argument, run a parameter as the program, leave a parameter unused, or
//! set a loader variable is an error naming `commands.NAME.FIELD`, at load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_exec::{Allowlist, ArgTemplate, ParamSpec};

fn load_err(toml_text: &str) -> String {
    match toml::from_str::<Allowlist>(toml_text) {
        Ok(a) => panic!("loaded: {a:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn issue13_commands_that_could_splice_or_inject_do_not_load() {
    for (toml_text, expected) in [
        (
            "[c]\nargv = [\"/bin/echo\", \"--count={n}\"]\nparams.n = { type = \"integer\", min = 1, max = 2 }\n",
            "commands.c.argv[1]",
        ),
        ("[c]\nargv = [\"{prog}\"]\nparams.prog = { type = \"enum\", values = [\"ls\"] }\n", "commands.c.argv[0]"),
        ("[c]\nargv = [\"/bin/echo\", \"{x}\"]\n", "commands.c.argv[1]"),
        ("[c]\nargv = [\"/bin/echo\"]\nparams.x = { type = \"integer\", min = 1, max = 2 }\n", "commands.c.params.x"),
        ("[c]\nargv = [\"/bin/echo\"]\nenv = { LD_PRELOAD = \"/tmp/x.so\" }\n", "commands.c.env.LD_PRELOAD"),
        ("[c]\nargv = [\"/bin/echo\"]\nenv = { PATH = \"/tmp\" }\n", "commands.c.env.PATH"),
        ("[c]\nargv = [\"/bin/echo\"]\nenv = { BASH_ENV = \"/tmp/x\" }\n", "commands.c.env.BASH_ENV"),
        ("[c]\nargv = [\"bin/echo\"]\n", "commands.c.argv[0]"),
        ("[c]\nargv = [\"no-such-program-13\"]\n", "commands.c.argv[0]"),
        ("[c]\nargv = []\n", "commands.c.argv"),
        ("[\"\u{0435}cho\"]\nargv = [\"/bin/echo\"]\n", "commands.\u{0435}cho"),
        ("[c]\nargv = [\"/bin/echo\", \"{s}\"]\nparams.s = { type = \"string\", pattern = \"(\" }\n", "commands.c.params.s"),
        ("[c]\nargv = [\"/bin/echo\", \"{n}\"]\nparams.n = { type = \"integer\", min = 3, max = 2 }\n", "commands.c.params.n"),
        ("[c]\nargv = [\"/bin/echo\", \"{p}\"]\nparams.p = { type = \"path\", root = \"relative\" }\n", "commands.c.params.p"),
        ("[c]\nargv = [\"/bin/echo\"]\ntimeout_ms = 0\n", "commands.c.timeout_ms"),
        ("[c]\nargv = [\"/bin/echo\"]\nshell = true\n", "unknown field"),
    ] {
        let err = load_err(toml_text);
        assert!(err.contains(expected), "{toml_text:?}: {err}");
    }
}

#[test]
fn issue13_a_command_loads_into_whole_element_templates() {
    let a: Allowlist = toml::from_str(
        r#"
[lister]
argv = ["ls", "-c", "{count}", "--", "{host}", { literal = "{not-a-param}" }]
params.count = { type = "integer", min = 1, max = 10 }
params.host = { type = "string", pattern = "[a-z0-9.-]+", max_len = 253 }
env = { LANG = "C", TOKEN = { value = "x", secret = true } }
user = "nobody"
in_containers = true
"#,
    )
    .expect("loads");
    let c = a.iter().next().expect("one command");
    assert_eq!(c.name.as_str(), "lister");
    assert!(
        c.program.is_absolute(),
        "a bare name is resolved in the safe PATH: {:?}",
        c.program
    );
    assert_eq!(
        c.argv,
        vec![
            ArgTemplate::Literal("ls".into()),
            ArgTemplate::Literal("-c".into()),
            ArgTemplate::Param("count".into()),
            ArgTemplate::Literal("--".into()),
            ArgTemplate::Param("host".into()),
            ArgTemplate::Literal("{not-a-param}".into()),
        ]
    );
    assert!(matches!(
        c.params["count"],
        ParamSpec::Integer { min: 1, max: 10 }
    ));
    assert!(c.env["TOKEN"].secret);
    assert!(
        !format!("{:?}", c.env["TOKEN"]).contains('x'),
        "Debug hides a secret"
    );
    assert!(c.in_containers);
}
