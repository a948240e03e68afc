//! seal: run un-audited Python packages without handing them your files, secrets or network.

#![forbid(unsafe_code)]

mod allow_net;
mod cli;
mod commands;
mod install;
mod isolation;
mod layout;
mod notebook_review;
mod policy;
mod project;
mod publish;
mod python;
mod settings;
mod values;

use clap::error::ErrorKind;
use clap::Parser;

use cli::{Cli, Command};

/// seal's own failures (bad input, setup errors) exit with this code, distinct from the
/// program's codes and the shell's 126/127.
pub const EXIT_SEAL_ERROR: i32 = seal_sandbox::EXIT_SETUP_FAILED;
/// The wall-clock limit expired (the same code as timeout(1)).
pub const EXIT_TIMEOUT: i32 = 124;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            // One line, like every other seal error, and seal's own exit code.
            let text = e.render().to_string();
            let mut lines = text.lines();
            let mut first = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            // "the following required arguments were not provided:" names them on the
            // indented lines after it.
            if first.ends_with(':') {
                let named: Vec<&str> = lines
                    .take_while(|l| l.starts_with("  "))
                    .map(str::trim)
                    .collect();
                first = format!("{} {}", first, named.join(", "));
            }
            eprintln!("seal: {first} (see --help)");
            std::process::exit(EXIT_SEAL_ERROR);
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args.sandbox, args.command),
        Command::Shell(args) => commands::run::shell(args.sandbox),
        Command::Exec(args) => commands::run::exec(args.sandbox, args.command),
        Command::Jupyter(args) => commands::jupyter::run(*args),
        Command::Install(args) => install::install(*args),
        Command::Add(args) => install::add(*args),
        Command::Remove(args) => install::remove(*args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Export(cli::ExportTarget::Slurm(args)) => {
            commands::export::slurm(args.sandbox, args.command)
        }
        Command::Export(cli::ExportTarget::K8s(args)) => commands::export::k8s(*args),
        Command::Env(args) => commands::env::run(args),
        Command::Doctor(args) => commands::doctor::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "seal", &mut std::io::stdout());
            Ok(0)
        }
        Command::Init { project } => commands::init::run(project),
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                // `seal man | head` closing the pipe early is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(0),
            }
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            let code = err
                .downcast_ref::<seal_sandbox::Error>()
                .map_or(EXIT_SEAL_ERROR, seal_sandbox::Error::exit_code);
            // One line: the chain of causes, outermost first.
            let msg: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("seal: {}", msg.join(": "));
            std::process::exit(code);
        }
    }
}
