use serde_json::{Value, json};

use super::{check, metadata, set};
use crate::health::Status::{Current, Failed, InProgress};

fn pod_template() -> Value {
    json!({
        "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"containers": [{"name": "web", "image": "ghcr.io/example/web:1.4.2", "ports": [{"containerPort": 8080}]}]}
    })
}

fn deployment(replicas: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata("web", Some("shop"), 3),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "progressDeadlineSeconds": 600,
            "template": pod_template(),
        },
        "status": status,
    })
}

fn deployment_conditions(available: &str, progressing: &str, progressing_reason: &str) -> Value {
    json!([
        {"type": "Available", "status": available, "reason": if available == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
         "message": if available == "True" { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
         "lastUpdateTime": "2025-03-01T10:01:00Z", "lastTransitionTime": "2025-03-01T10:01:00Z"},
        {"type": "Progressing", "status": progressing, "reason": progressing_reason,
         "message": match progressing_reason {
             "NewReplicaSetAvailable" => "ReplicaSet \"web-7d9f8c6b5\" has successfully progressed.",
             "ProgressDeadlineExceeded" => "ReplicaSet \"web-7d9f8c6b5\" has timed out progressing.",
             _ => "ReplicaSet \"web-7d9f8c6b5\" is progressing.",
         },
         "lastUpdateTime": "2025-03-01T10:01:00Z", "lastTransitionTime": "2025-03-01T10:00:00Z"}
    ])
}

fn deployment_status(
    replicas: i64,
    updated: i64,
    ready: i64,
    available: i64,
    conditions: Value,
) -> Value {
    json!({
        "observedGeneration": 3,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (replicas - available).max(0),
        "conditions": conditions,
    })
}

#[test]
fn deployments() {
    let done = deployment_conditions("True", "True", "NewReplicaSetAvailable");
    let rolling = deployment_conditions("True", "True", "ReplicaSetUpdated");
    let unavailable = deployment_conditions("False", "True", "ReplicaSetUpdated");
    let deadline = deployment_conditions("False", "False", "ProgressDeadlineExceeded");
    let mut no_spec_replicas = deployment(1, deployment_status(1, 1, 1, 1, done.clone()));
    no_spec_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    check(vec![
        (
            "all replicas ready",
            deployment(3, deployment_status(3, 3, 3, 3, done.clone())),
            Current,
            "Deployment: 3 of 3 replicas ready",
        ),
        (
            "spec.replicas defaults to 1",
            no_spec_replicas,
            Current,
            "1 of 1 replicas ready",
        ),
        (
            "scaled to zero",
            deployment(
                0,
                json!({"observedGeneration": 3, "conditions": done.clone()}),
            ),
            Current,
            "0 of 0",
        ),
        (
            "one ready",
            deployment(3, deployment_status(3, 3, 1, 1, unavailable.clone())),
            InProgress,
            "Deployment: 1 of 3 replicas ready",
        ),
        (
            "rollout half way",
            deployment(3, deployment_status(4, 2, 3, 3, rolling.clone())),
            InProgress,
            "2 of 3 replicas updated",
        ),
        (
            "old replicas left",
            deployment(3, deployment_status(4, 3, 3, 3, rolling.clone())),
            InProgress,
            "1 old replicas pending termination",
        ),
        (
            "ready but not yet available",
            deployment(3, deployment_status(3, 3, 3, 2, rolling.clone())),
            InProgress,
            "2 of 3 replicas available",
        ),
        (
            "Available=False",
            deployment(3, deployment_status(3, 3, 3, 3, unavailable)),
            InProgress,
            "condition Available=False",
        ),
        (
            "rollout not declared done",
            deployment(3, deployment_status(3, 3, 3, 3, rolling)),
            InProgress,
            "rollout in progress",
        ),
        (
            "progress deadline exceeded",
            deployment(3, deployment_status(3, 1, 2, 2, deadline)),
            Failed,
            "progress deadline exceeded: ReplicaSet \"web-7d9f8c6b5\" has timed out",
        ),
        (
            "no status yet",
            set(deployment(3, json!(null)), "metadata.generation", json!(1)),
            InProgress,
            "no status yet",
        ),
        (
            "generation not observed",
            set(
                deployment(3, deployment_status(3, 3, 3, 3, done)),
                "metadata.generation",
                json!(4),
            ),
            InProgress,
            "waiting for the controller to observe generation 4",
        ),
    ]);
}

fn stateful_set(replicas: i64, strategy: Value, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("db", Some("shop"), 2),
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app.kubernetes.io/name": "db"}},
            "updateStrategy": strategy,
            "podManagementPolicy": "OrderedReady",
            "template": pod_template(),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}],
        },
        "status": status,
    })
}

fn sts_status(
    replicas: i64,
    ready: i64,
    current: i64,
    updated: i64,
    current_rev: &str,
    update_rev: &str,
) -> Value {
    json!({
        "observedGeneration": 2,
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_rev,
        "updateRevision": update_rev,
        "collisionCount": 0,
    })
}

#[test]
fn stateful_sets() {
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
    let partitioned = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
    let on_delete = json!({"type": "OnDelete"});
    check(vec![
        (
            "rolled out",
            stateful_set(
                3,
                rolling.clone(),
                sts_status(3, 3, 3, 3, "db-6c9b7", "db-6c9b7"),
            ),
            Current,
            "StatefulSet: 3 of 3 replicas ready",
        ),
        (
            "no strategy written",
            stateful_set(
                1,
                json!(null),
                sts_status(1, 1, 1, 1, "db-6c9b7", "db-6c9b7"),
            ),
            Current,
            "1 of 1 replicas ready",
        ),
        (
            "still creating",
            stateful_set(
                3,
                rolling.clone(),
                sts_status(2, 2, 2, 2, "db-6c9b7", "db-6c9b7"),
            ),
            InProgress,
            "2 of 3 replicas created",
        ),
        (
            "not ready",
            stateful_set(
                3,
                rolling.clone(),
                sts_status(3, 1, 3, 3, "db-6c9b7", "db-6c9b7"),
            ),
            InProgress,
            "StatefulSet: 1 of 3 replicas ready",
        ),
        (
            "scaling down",
            stateful_set(
                2,
                rolling.clone(),
                sts_status(3, 3, 3, 3, "db-6c9b7", "db-6c9b7"),
            ),
            InProgress,
            "1 extra replicas pending termination",
        ),
        (
            "rolling update",
            stateful_set(
                3,
                rolling.clone(),
                sts_status(3, 3, 2, 1, "db-6c9b7", "db-84f2d"),
            ),
            InProgress,
            "1 of 3 replicas updated",
        ),
        (
            "revision not switched",
            stateful_set(3, rolling, sts_status(3, 3, 0, 3, "db-6c9b7", "db-84f2d")),
            InProgress,
            "waiting for revision db-84f2d to replace db-6c9b7",
        ),
        (
            "partition reached",
            stateful_set(
                3,
                partitioned.clone(),
                sts_status(3, 3, 2, 1, "db-6c9b7", "db-84f2d"),
            ),
            Current,
            "partitioned rollout done",
        ),
        (
            "partition not reached",
            stateful_set(
                3,
                partitioned,
                sts_status(3, 3, 3, 0, "db-6c9b7", "db-84f2d"),
            ),
            InProgress,
            "0 of 1 replicas above partition 2 updated",
        ),
        (
            "OnDelete with old revision",
            stateful_set(
                3,
                on_delete.clone(),
                sts_status(3, 3, 3, 0, "db-6c9b7", "db-84f2d"),
            ),
            Current,
            "OnDelete",
        ),
        (
            "OnDelete not ready",
            stateful_set(3, on_delete, sts_status(3, 2, 3, 0, "db-6c9b7", "db-84f2d")),
            InProgress,
            "2 of 3 replicas ready",
        ),
        (
            "generation not observed",
            set(
                stateful_set(3, json!(null), sts_status(3, 3, 3, 3, "a", "a")),
                "metadata.generation",
                json!(5),
            ),
            InProgress,
            "observe generation 5",
        ),
    ]);
}

fn daemon_set(status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata("node-agent", Some("kube-system"), 4),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "node-agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "template": pod_template(),
        },
        "status": status,
    })
}

fn ds_status(desired: i64, current: i64, updated: i64, available: i64, ready: i64) -> Value {
    json!({
        "observedGeneration": 4,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberReady": ready,
        "numberMisscheduled": 0,
    })
}

#[test]
fn daemon_sets() {
    let mut unobserved = ds_status(3, 3, 3, 3, 3);
    unobserved
        .as_object_mut()
        .unwrap()
        .remove("observedGeneration");
    check(vec![
        (
            "every node ready",
            daemon_set(ds_status(5, 5, 5, 5, 5)),
            Current,
            "DaemonSet: 5 of 5 pods ready",
        ),
        (
            "no nodes match",
            daemon_set(
                json!({"observedGeneration": 4, "desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}),
            ),
            Current,
            "0 of 0",
        ),
        (
            "scheduling",
            daemon_set(ds_status(5, 3, 3, 3, 3)),
            InProgress,
            "3 of 5 pods scheduled",
        ),
        (
            "updating",
            daemon_set(ds_status(5, 5, 2, 5, 5)),
            InProgress,
            "2 of 5 pods updated",
        ),
        (
            "not available",
            daemon_set(ds_status(5, 5, 5, 4, 5)),
            InProgress,
            "4 of 5 pods available",
        ),
        (
            "not ready",
            daemon_set(ds_status(5, 5, 5, 5, 4)),
            InProgress,
            "4 of 5 pods ready",
        ),
        (
            "observedGeneration missing",
            daemon_set(unobserved),
            InProgress,
            "not yet observed",
        ),
        (
            "desired missing",
            daemon_set(json!({"observedGeneration": 4})),
            InProgress,
            "desired number of pods not known",
        ),
        (
            "no status",
            daemon_set(json!(null)),
            InProgress,
            "no status yet",
        ),
        (
            "generation lag",
            set(
                daemon_set(ds_status(5, 5, 5, 5, 5)),
                "metadata.generation",
                json!(6),
            ),
            InProgress,
            "observe generation 6",
        ),
    ]);
}

fn replica_set(replicas: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": set(metadata("web-7d9f8c6b5", Some("shop"), 1), "ownerReferences", json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true}])),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}, "template": pod_template()},
        "status": status,
    })
}

fn rs_status(replicas: i64, ready: i64, available: i64) -> Value {
    json!({"observedGeneration": 1, "replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": available})
}

#[test]
fn replica_sets() {
    let quota = set(
        rs_status(1, 1, 1),
        "conditions",
        json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-7d9f8c6b5-x\" is forbidden: exceeded quota: compute"}]),
    );
    check(vec![
        (
            "ready",
            replica_set(2, rs_status(2, 2, 2)),
            Current,
            "ReplicaSet: 2 of 2 replicas ready",
        ),
        (
            "creating",
            replica_set(2, rs_status(1, 1, 1)),
            InProgress,
            "1 of 2 replicas created",
        ),
        (
            "not ready",
            replica_set(2, rs_status(2, 0, 0)),
            InProgress,
            "0 of 2 replicas ready",
        ),
        (
            "not available",
            replica_set(2, rs_status(2, 2, 1)),
            InProgress,
            "1 of 2 replicas available",
        ),
        (
            "extra",
            replica_set(1, rs_status(2, 2, 2)),
            InProgress,
            "1 extra replicas",
        ),
        (
            "replica failure",
            replica_set(2, quota),
            InProgress,
            "condition ReplicaFailure=True: pods \"web-7d9f8c6b5-x\" is forbidden",
        ),
    ]);
}

fn job(spec_extra: Value, status: Value) -> Value {
    let mut spec = json!({
        "backoffLimit": 6,
        "completions": 1,
        "parallelism": 1,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "ghcr.io/example/migrate:2.0.1"}]}},
    });
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata("db-migrate", Some("shop"), 1),
        "spec": spec,
        "status": status,
    })
}

#[test]
fn jobs_and_cron_jobs() {
    let complete = json!({
        "startTime": "2025-03-01T10:00:00Z", "completionTime": "2025-03-01T10:00:42Z", "succeeded": 1, "ready": 0,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
        ]
    });
    let failed = json!({
        "startTime": "2025-03-01T10:00:00Z", "failed": 7,
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
        ]
    });
    let failure_target = json!({
        "startTime": "2025-03-01T10:00:00Z", "failed": 7, "active": 1,
        "conditions": [{"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]
    });
    let running =
        json!({"startTime": "2025-03-01T10:00:00Z", "active": 1, "ready": 1, "failed": 2});
    let suspended_condition = json!({
        "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}]
    });
    let cron_job = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata("backup", Some("shop"), 1),
        "spec": {"schedule": "0 3 * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "backup", "image": "ghcr.io/example/backup:1"}]}}}}},
        "status": {"lastScheduleTime": "2025-03-01T03:00:00Z"},
    });
    check(vec![
        (
            "complete",
            job(json!({}), complete),
            Current,
            "Job complete: 1 succeeded",
        ),
        (
            "failed",
            job(json!({}), failed),
            Failed,
            "Job failed: Job has reached the specified backoff limit",
        ),
        (
            "failure target",
            job(json!({}), failure_target),
            Failed,
            "deadline",
        ),
        (
            "running",
            job(json!({}), running),
            InProgress,
            "Job running: 1 active, 0 succeeded, 2 failed",
        ),
        (
            "not started",
            job(json!({}), json!({})),
            InProgress,
            "Job not started yet",
        ),
        (
            "no status",
            job(json!({}), json!(null)),
            InProgress,
            "not started",
        ),
        (
            "suspended by spec",
            job(json!({"suspend": true}), json!({})),
            Current,
            "Job suspended",
        ),
        (
            "suspended condition",
            job(json!({}), suspended_condition),
            Current,
            "Job suspended",
        ),
        (
            "cron job",
            cron_job.clone(),
            Current,
            "CronJob scheduled: 0 3 * * *",
        ),
        (
            "suspended cron job",
            set(cron_job, "spec.suspend", json!(true)),
            Current,
            "CronJob suspended",
        ),
    ]);
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata("web-7d9f8c6b5-2xk9p", Some("shop"), 0),
        "spec": {
            "nodeName": "worker-1",
            "restartPolicy": "Always",
            "initContainers": [{"name": "init-schema", "image": "ghcr.io/example/migrate:2.0.1"}],
            "containers": [{"name": "web", "image": "ghcr.io/example/web:1.4.2"}, {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}],
        },
        "status": status,
    })
}

fn pod_conditions(ready: &str) -> Value {
    json!([
        {"type": "PodReadyToStartContainers", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": ready},
        {"type": "ContainersReady", "status": ready},
        {"type": "PodScheduled", "status": "True"}
    ])
}

fn container(name: &str, ready: bool, state: Value) -> Value {
    json!({"name": name, "image": "ghcr.io/example/web:1.4.2", "ready": ready, "restartCount": 0, "started": ready, "state": state})
}

#[test]
fn pods() {
    let running = json!({"running": {"startedAt": "2025-03-01T10:00:05Z"}});
    let ready = json!({"phase": "Running", "conditions": pod_conditions("True"),
        "containerStatuses": [container("web", true, running.clone()), container("proxy", true, running.clone())]});
    let half_ready = json!({"phase": "Running", "conditions": pod_conditions("False"),
        "containerStatuses": [container("web", true, running.clone()), container("proxy", false, running.clone())]});
    let crash = json!({"phase": "Running", "conditions": pod_conditions("False"),
    "containerStatuses": [
        container("web", false, json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=web pod=web-7d9f8c6b5-2xk9p_shop"}})),
        container("proxy", true, running.clone())
    ]});
    let pull_backoff = json!({"phase": "Pending", "conditions": pod_conditions("False"),
    "containerStatuses": [
        container("web", false, json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/example/web:1.4.3\""}})),
        container("proxy", false, json!({"waiting": {"reason": "ContainerCreating"}}))
    ]});
    let init_pull = json!({"phase": "Pending",
        "initContainerStatuses": [container("init-schema", false, json!({"waiting": {"reason": "ErrImagePull"}}))],
        "containerStatuses": [container("web", false, json!({"waiting": {"reason": "PodInitializing"}}))]});
    let creating = json!({"phase": "Pending", "conditions": pod_conditions("False"),
        "containerStatuses": [container("web", false, json!({"waiting": {"reason": "ContainerCreating"}}))]});
    let unschedulable = json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}
    ]});
    let evicted = json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."});
    check(vec![
        ("running and ready", pod(ready), Current, "Pod ready"),
        (
            "completed",
            pod(json!({"phase": "Succeeded"})),
            Current,
            "Pod completed",
        ),
        (
            "evicted",
            pod(evicted),
            Failed,
            "Pod failed: Evicted: The node was low on resource: memory.",
        ),
        (
            "crash loop",
            pod(crash),
            Failed,
            "Pod: container web: CrashLoopBackOff: back-off 5m0s",
        ),
        (
            "image pull back-off",
            pod(pull_backoff),
            Failed,
            "Pod: container web: ImagePullBackOff",
        ),
        (
            "init container image",
            pod(init_pull),
            Failed,
            "Pod: init container init-schema: ErrImagePull",
        ),
        (
            "one container not ready",
            pod(half_ready),
            InProgress,
            "Pod running: 1 of 2 containers ready",
        ),
        (
            "creating containers",
            pod(creating),
            InProgress,
            "Pod Pending",
        ),
        (
            "unschedulable",
            pod(unschedulable),
            InProgress,
            "Pod not scheduled: 0/3 nodes are available",
        ),
        ("no status", pod(json!(null)), InProgress, "no status yet"),
    ]);
}

fn pdb(status: Value) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata("web", Some("shop"), 1),
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}},
        "status": status,
    })
}

#[test]
fn pod_disruption_budgets() {
    let status = |healthy: i64| json!({"observedGeneration": 1, "currentHealthy": healthy, "desiredHealthy": 2, "disruptionsAllowed": (healthy - 2).max(0), "expectedPods": 3});
    check(vec![
        (
            "budget met",
            pdb(status(3)),
            Current,
            "PodDisruptionBudget: 3 healthy, 2 required",
        ),
        (
            "exactly met",
            pdb(status(2)),
            Current,
            "2 healthy, 2 required",
        ),
        (
            "budget not met",
            pdb(status(1)),
            InProgress,
            "1 healthy, 2 required",
        ),
        (
            "not observed",
            pdb(json!({"currentHealthy": 0, "desiredHealthy": 0})),
            InProgress,
            "not yet observed",
        ),
        ("no status", pdb(json!(null)), InProgress, "no status yet"),
        (
            "generation lag",
            set(pdb(status(3)), "metadata.generation", json!(2)),
            InProgress,
            "observe generation 2",
        ),
    ]);
}
