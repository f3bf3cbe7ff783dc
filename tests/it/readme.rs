//! The README stays true: its key map is the UI's key map, and the commands it names exist.

use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn the_readme_key_map_is_the_ui_key_map() {
    let text = readme();
    let mut n = 0;
    for (keys, what) in hookrelay::tui::keymap::help_table() {
        let row = format!("| `{keys}` | {what} |");
        assert!(text.contains(&row), "README lacks the key map row: {row}");
        n += 1;
    }
    assert!(n >= 15, "the key map has {n} rows");
}

#[test]
fn every_subcommand_the_readme_names_exists() {
    let text = readme();
    let help = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for cmd in [
        "forward", "serve", "demo", "send", "bench", "list", "show", "replay", "export", "prune",
        "diff",
    ] {
        assert!(
            text.contains(&format!("hookrelay {cmd}")),
            "README does not show `hookrelay {cmd}`"
        );
        assert!(
            help.contains(&format!("  {cmd} ")),
            "`hookrelay --help` has no {cmd}"
        );
    }
}
