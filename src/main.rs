//! The `distro` binary: parse flags, run one command, map its outcome to an
//! exit code. All work happens in the library.

fn main() -> std::process::ExitCode {
    distro::cli::main()
}
