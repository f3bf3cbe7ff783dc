//! The hookrelay binary: everything lives in the library; see `hookrelay::cli`.

fn main() {
    std::process::exit(hookrelay::cli::main());
}
