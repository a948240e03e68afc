//! One module per subcommand that is not a pipeline of its own (`seal install` is
//! [`crate::install`]).

pub mod audit;
pub mod demo;
pub mod doctor;
pub mod env;
pub mod export;
pub mod init;
pub mod jupyter;
pub mod run;
