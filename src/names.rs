//! The syntax Kubernetes requires of names, namespaces, label keys and
//! values, and annotation keys (apimachinery's `IsDNS1123Label`,
//! `IsDNS1123Subdomain`, `IsDNS1035Label`, `IsQualifiedName`,
//! `IsValidLabelValue`, `IsValidPathSegmentName`), so that an object the API
//! server would refuse is found offline.
//!
//! Each check returns `Err` with what the value must look like, written to
//! follow the value in a message (`"Foo" must be ...`).

/// How Kubernetes checks the `metadata.name` of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: what most kinds, and every custom resource, use.
    Subdomain,
    /// RFC 1123 label: Namespace, StatefulSet.
    Label,
    /// RFC 1035 label (a label that starts with a letter): Service.
    Label1035,
    /// Anything that fits in a URL path segment: not `.` or `..`, no `/` or
    /// `%`. The RBAC kinds, so that `system:controller:foo` is a name.
    PathSegment,
    /// A subdomain of at most 52 characters, leaving room for the suffix of
    /// the Jobs it creates: CronJob.
    CronJob,
    /// Not checked here: kinds whose names follow rules of their own
    /// (IPAddress, ClusterTrustBundle, ...); the API server checks them.
    Unchecked,
}

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;
const CRONJOB_MAX: usize = 52;

/// Checks a name against its kind's rule.
pub fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    match rule {
        NameRule::Subdomain => check_subdomain(name),
        NameRule::Label => check_label(name),
        NameRule::Label1035 => check_label_1035(name),
        NameRule::PathSegment => check_path_segment(name),
        NameRule::CronJob => {
            check_subdomain(name)?;
            if name.len() > CRONJOB_MAX {
                return Err(format!(
                    "must be at most {CRONJOB_MAX} characters (it is {}), leaving room for the suffix of its Jobs",
                    name.len()
                ));
            }
            Ok(())
        }
        NameRule::Unchecked => Ok(()),
    }
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 label: 1 to 63 lower-case letters, digits and '-', starting and
/// ending with a letter or digit.
pub fn check_label(s: &str) -> Result<(), String> {
    if is_label(s) {
        Ok(())
    } else {
        Err(format!(
            "must be a DNS label: 1 to {LABEL_MAX} lower-case letters, digits and '-', starting and ending with a letter or digit{}",
            length_note(s, LABEL_MAX)
        ))
    }
}

/// RFC 1035 label: an RFC 1123 label that starts with a letter.
pub fn check_label_1035(s: &str) -> Result<(), String> {
    if is_label(s) && s.as_bytes()[0].is_ascii_lowercase() {
        Ok(())
    } else {
        Err(format!(
            "must be a DNS-1035 label: 1 to {LABEL_MAX} lower-case letters, digits and '-', starting with a letter and ending with a letter or digit{}",
            length_note(s, LABEL_MAX)
        ))
    }
}

/// RFC 1123 subdomain: labels joined by '.', at most 253 characters.
pub fn check_subdomain(s: &str) -> Result<(), String> {
    if s.len() <= SUBDOMAIN_MAX && !s.is_empty() && s.split('.').all(is_label) {
        Ok(())
    } else {
        Err(format!(
            "must be a DNS subdomain: at most {SUBDOMAIN_MAX} lower-case letters, digits, '-' and '.', starting and ending with a letter or digit{}",
            length_note(s, SUBDOMAIN_MAX)
        ))
    }
}

fn check_path_segment(s: &str) -> Result<(), String> {
    if s == "." || s == ".." {
        return Err("may not be '.' or '..'".into());
    }
    if let Some(bad) = ['/', '%'].into_iter().find(|&c| s.contains(c)) {
        return Err(format!("may not contain '{bad}'"));
    }
    Ok(())
}

fn length_note(s: &str, max: usize) -> String {
    if s.len() > max {
        format!(" (it is {} characters)", s.len())
    } else {
        String::new()
    }
}

/// The name part of a qualified name: 1 to 63 letters, digits, '-', '_'
/// and '.', starting and ending with a letter or digit.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= LABEL_MAX
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A qualified name, as label and annotation keys are: an optional DNS
/// subdomain prefix and '/', then a name part.
pub fn check_qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(prefix) = prefix
        && check_subdomain(prefix).is_err()
    {
        return Err(format!(
            "must be a qualified name: its prefix {prefix:?} (before '/') must be a DNS subdomain"
        ));
    }
    if is_qualified_name_part(name) {
        Ok(())
    } else {
        Err(
            "must be a qualified name: an optional DNS subdomain and '/', then 1 to 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .into(),
        )
    }
}

/// A label value: empty, or what a qualified name's name part may be.
pub fn check_label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || is_qualified_name_part(s) {
        Ok(())
    } else {
        Err(format!(
            "must be a label value: empty, or 1 to {LABEL_MAX} letters, digits, '-', '_' and '.', starting and ending with a letter or digit{}",
            length_note(s, LABEL_MAX)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(check_label("kube-system").is_ok());
        assert!(check_label("a.b").is_err());
        assert!(check_label("-a").is_err());
        assert!(check_label(&"a".repeat(63)).is_ok());
        assert!(check_label(&"a".repeat(64)).is_err());
        assert!(check_subdomain("widgets.example.dev").is_ok());
        assert!(check_subdomain("Widgets").is_err());
        assert!(check_subdomain("a..b").is_err());
        assert!(check_subdomain("a_b").is_err());
        assert!(check_subdomain(".a").is_err());
        assert!(check_subdomain(&["a"; 127].join(".")).is_ok());
        assert!(check_subdomain(&format!("{}.x", ["a"; 127].join("."))).is_err());
        assert!(check_label_1035("web").is_ok());
        assert!(check_label_1035("1web").is_err());
        assert!(check_label("1web").is_ok());
    }

    #[test]
    fn rbac_names_may_hold_colons() {
        assert!(check_name(NameRule::PathSegment, "system:controller:foo").is_ok());
        assert!(check_name(NameRule::PathSegment, "a/b").is_err());
        assert!(check_name(NameRule::PathSegment, "..").is_err());
        assert!(check_name(NameRule::Subdomain, "system:foo").is_err());
    }

    #[test]
    fn cronjob_names_leave_room() {
        assert!(check_name(NameRule::CronJob, &"a".repeat(52)).is_ok());
        assert!(check_name(NameRule::CronJob, &"a".repeat(53)).is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(check_qualified_name("app.kubernetes.io/name").is_ok());
        assert!(check_qualified_name("MyName").is_ok());
        assert!(check_qualified_name("Example.com/x").is_err());
        assert!(check_qualified_name("a/b/c").is_err());
        assert!(check_qualified_name("/x").is_err());
        assert!(check_qualified_name("x/").is_err());
        assert!(check_qualified_name("-x").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_3-X").is_ok());
        assert!(check_label_value("a b").is_err());
        assert!(check_label_value(&"a".repeat(64)).is_err());
        assert!(check_label_value("x-").is_err());
    }
}
