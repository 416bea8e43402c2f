//! What `distro` knows about kinds without asking a cluster: which built-in
//! kinds are cluster-scoped, and in which stage of a release each kind is
//! applied. This is the one table of apply order; render sorts by it and the
//! applier stages by it.

/// Apply stages inside one release, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// CustomResourceDefinitions, Namespaces, cluster-wide RBAC: everything
    /// later objects may need to exist. CRDs must be Established before the
    /// next stage starts.
    Foundation,
    /// `*Class` kinds (StorageClass, IngressClass, PriorityClass, ...), which
    /// workloads reference by name.
    Class,
    /// Everything else.
    Workload,
    /// Admission webhooks last, so they never block the objects of their own
    /// release while their backing Service is not serving yet.
    Webhook,
}

impl Stage {
    /// Every stage, in apply order.
    pub const ALL: [Stage; 4] = [
        Stage::Foundation,
        Stage::Class,
        Stage::Workload,
        Stage::Webhook,
    ];
}

/// The stage of a kind (group without version, e.g. `rbac.authorization.k8s.io`).
pub fn stage(group: &str, kind: &str) -> Stage {
    match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("", "Namespace")
        | ("rbac.authorization.k8s.io", "ClusterRole")
        | ("rbac.authorization.k8s.io", "ClusterRoleBinding")
        | ("", "ServiceAccount")
        | ("rbac.authorization.k8s.io", "Role")
        | ("rbac.authorization.k8s.io", "RoleBinding") => Stage::Foundation,
        ("admissionregistration.k8s.io", k) if k.ends_with("WebhookConfiguration") => {
            Stage::Webhook
        }
        (_, k) if k.ends_with("Class") => Stage::Class,
        _ => Stage::Workload,
    }
}

/// A finer order inside the foundation stage, so that a stream reads like a
/// `kubectl apply` would want it: CRDs, then Namespaces, then RBAC.
pub fn rank(group: &str, kind: &str) -> (Stage, u8) {
    let s = stage(group, kind);
    let within = match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("", "Namespace") => 1,
        ("rbac.authorization.k8s.io", "ClusterRole") => 2,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => 3,
        ("", "ServiceAccount") => 4,
        ("rbac.authorization.k8s.io", "Role") => 5,
        ("rbac.authorization.k8s.io", "RoleBinding") => 6,
        _ => 0,
    };
    (s, within)
}

/// Built-in cluster-scoped kinds, by group and kind.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
];

/// Whether a built-in kind is cluster-scoped. `None` for kinds Kubernetes
/// does not define (custom resources): their scope comes from their CRD.
pub fn builtin_cluster_scoped(group: &str, kind: &str) -> Option<bool> {
    if CLUSTER_SCOPED.contains(&(group, kind)) {
        return Some(true);
    }
    let builtin_group = group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(group, "apps" | "batch" | "autoscaling" | "policy");
    builtin_group.then_some(false)
}

/// Splits `apiVersion` into group and version (`apps/v1` -> `apps`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The apiVersions every Kubernetes of the supported range serves; templates
/// see them (plus the render set's CRDs) as `capabilities.apiVersions`.
pub const BUILTIN_API_VERSIONS: &[&str] = &[
    "v1",
    "apps/v1",
    "batch/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "networking.k8s.io/v1",
    "storage.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "node.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "certificates.k8s.io/v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_order() {
        assert!(
            stage("apiextensions.k8s.io", "CustomResourceDefinition")
                < stage("storage.k8s.io", "StorageClass")
        );
        assert!(stage("storage.k8s.io", "StorageClass") < stage("apps", "Deployment"));
        assert!(
            stage("apps", "Deployment")
                < stage(
                    "admissionregistration.k8s.io",
                    "ValidatingWebhookConfiguration"
                )
        );
        assert_eq!(stage("cert-manager.io", "ClusterIssuer"), Stage::Workload);
        assert_eq!(stage("", "Namespace"), Stage::Foundation);
        assert!(rank("apiextensions.k8s.io", "CustomResourceDefinition") < rank("", "Namespace"));
    }

    #[test]
    fn scope() {
        assert_eq!(builtin_cluster_scoped("", "Namespace"), Some(true));
        assert_eq!(
            builtin_cluster_scoped("rbac.authorization.k8s.io", "ClusterRole"),
            Some(true)
        );
        assert_eq!(builtin_cluster_scoped("apps", "Deployment"), Some(false));
        assert_eq!(builtin_cluster_scoped("", "ConfigMap"), Some(false));
        assert_eq!(
            builtin_cluster_scoped("cert-manager.io", "ClusterIssuer"),
            None
        );
    }

    #[test]
    fn api_versions() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
