fn main() -> std::process::ExitCode {
    scv_cli::main()
}
