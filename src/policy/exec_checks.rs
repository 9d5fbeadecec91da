//! What exec checks (`command.runtimeExecPolicy: "argv"`) apply to every program the sandbox
//! executes: the command rules, the ssh rules, and where their entries were written (looked
//! up only for a refusing rule).

use super::command::{CommandPolicy, RuleOrigin};
use super::ssh::SshRules;

#[derive(Clone)]
pub struct ExecRules {
    pub commands: CommandPolicy,
    pub ssh: SshRules,
    pub origin: RuleOrigin,
}

impl ExecRules {
    /// Whether any rule can refuse an exec (else nothing needs watching).
    pub fn active(&self) -> bool {
        !self.commands.is_empty() || super::command::ArgvCheck::active(&self.ssh)
    }
}
