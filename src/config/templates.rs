//! Built-in templates, embedded in the binary.

pub struct Template {
    pub name: &'static str,
    pub description: &'static str,
    pub text: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "default",
        description: "Deny everything: no network, no writes (the built-in default)",
        text: include_str!("templates/default.json"),
    },
    Template {
        name: "workspace-write",
        description: "Write the current directory only; secrets (.env, *.pem, *.key) stay read-only",
        text: include_str!("templates/workspace-write.json"),
    },
];

/// Looks a template up by name; a trailing `.json` is ignored (`-t workspace-write.json`).
pub fn find(name: &str) -> Option<&'static Template> {
    let name = name.strip_suffix(".json").unwrap_or(name);
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The text `fence --list-templates` prints.
pub fn listing() -> String {
    let mut out = String::from("Available templates:\n");
    for t in TEMPLATES {
        out.push_str(&format!("  {:<20} {}\n", t.name, t.description));
    }
    out.push_str(
        "\nUse one with: fence -t NAME COMMAND, or \"extends\": \"NAME\" in a config file.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_is_enforceable() {
        for t in TEMPLATES {
            let cfg = crate::config::parse_text(t.text, t.name)
                .unwrap_or_else(|e| panic!("template {}: {e}", t.name));
            assert!(cfg.extends.is_none() || find(cfg.extends.as_deref().unwrap()).is_some());
        }
    }

    #[test]
    fn lookup() {
        assert!(find("workspace-write").is_some());
        assert!(find("workspace-write.json").is_some());
        assert!(find("nope").is_none());
        assert!(listing().contains("workspace-write"));
    }
}
