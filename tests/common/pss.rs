//! Kubernetes Pod Security Standards, `baseline` and `restricted` (as of
//! Kubernetes 1.33), checked on a pod spec the way the Pod Security
//! admission controller checks it: every rule of
//! <https://kubernetes.io/docs/concepts/security/pod-security-standards/>
//! that a Linux pod can break. Returns what is violated, empty when the pod
//! is admitted under `restricted`.

use serde_json::Value;

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every container of the pod: containers, init and ephemeral containers.
fn containers(pod: &Value) -> Vec<&Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

/// What `pod` (a PodSpec) violates of the `restricted` profile (which
/// includes `baseline`).
pub fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let psc = &pod["securityContext"];
    // Baseline.
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[key] == true {
            v.push(format!("{key} is true"));
        }
    }
    if psc["windowsOptions"]["hostProcess"] == true {
        v.push("pod windowsOptions.hostProcess is true".into());
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or("?");
        if volume.get("hostPath").is_some() {
            v.push(format!("volume {name} is a hostPath"));
        }
        let kind = volume
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "name"))
            .map(String::as_str)
            .unwrap_or("?");
        if !RESTRICTED_VOLUMES.contains(&kind) {
            v.push(format!(
                "volume {name} has type {kind}, not allowed by restricted"
            ));
        }
    }
    for sysctl in psc["sysctls"].as_array().into_iter().flatten() {
        let name = sysctl["name"].as_str().unwrap_or("?");
        if !SAFE_SYSCTLS.contains(&name) {
            v.push(format!("sysctl {name} is not a safe sysctl"));
        }
    }
    let seccomp_ok = |sc: &Value| {
        matches!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let check_selinux = |sc: &Value, who: &str, v: &mut Vec<String>| {
        let se = &sc["seLinuxOptions"];
        if let Some(t) = se["type"].as_str()
            && ![
                "",
                "container_t",
                "container_init_t",
                "container_kvm_t",
                "container_engine_t",
            ]
            .contains(&t)
        {
            v.push(format!("{who} seLinuxOptions.type {t} is not allowed"));
        }
        if se.get("user").is_some() || se.get("role").is_some() {
            v.push(format!("{who} sets seLinuxOptions user or role"));
        }
        if sc["seccompProfile"]["type"] == "Unconfined" {
            v.push(format!("{who} seccomp profile is Unconfined"));
        }
        if let Some(p) = sc["appArmorProfile"]["type"].as_str()
            && !["RuntimeDefault", "Localhost"].contains(&p)
        {
            v.push(format!("{who} AppArmor profile is {p}"));
        }
    };
    check_selinux(psc, "pod", &mut v);
    // Restricted, pod level.
    if psc["runAsNonRoot"] == false {
        v.push("pod runAsNonRoot is false".into());
    }
    if psc["runAsUser"] == 0 {
        v.push("pod runAsUser is 0".into());
    }
    for c in containers(pod) {
        let name = c["name"].as_str().unwrap_or("?");
        let who = format!("container {name}");
        let sc = &c["securityContext"];
        if sc["privileged"] == true {
            v.push(format!("{who} is privileged"));
        }
        if sc["windowsOptions"]["hostProcess"] == true {
            v.push(format!("{who} windowsOptions.hostProcess is true"));
        }
        for port in c["ports"].as_array().into_iter().flatten() {
            if port["hostPort"].as_i64().unwrap_or(0) != 0 {
                v.push(format!("{who} uses a hostPort"));
            }
        }
        if sc["procMount"].as_str().is_some_and(|p| p != "Default") {
            v.push(format!("{who} procMount is not Default"));
        }
        check_selinux(sc, &who, &mut v);
        let added: Vec<&str> = sc["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for cap in &added {
            if !BASELINE_CAPABILITIES.contains(cap) {
                v.push(format!("{who} adds capability {cap}"));
            } else if *cap != "NET_BIND_SERVICE" {
                v.push(format!(
                    "{who} adds capability {cap}, beyond NET_BIND_SERVICE"
                ));
            }
        }
        let dropped: Vec<&str> = sc["capabilities"]["drop"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !dropped.contains(&"ALL") {
            v.push(format!("{who} does not drop ALL capabilities"));
        }
        if sc["allowPrivilegeEscalation"] != false {
            v.push(format!(
                "{who} does not set allowPrivilegeEscalation to false"
            ));
        }
        let non_root = match sc["runAsNonRoot"].as_bool() {
            Some(b) => b,
            None => psc["runAsNonRoot"] == true,
        };
        if !non_root {
            v.push(format!("{who} may run as root (runAsNonRoot is not true)"));
        }
        if sc["runAsUser"] == 0 {
            v.push(format!("{who} runAsUser is 0"));
        }
        if !(seccomp_ok(sc) || (sc["seccompProfile"].is_null() && seccomp_ok(psc))) {
            v.push(format!(
                "{who} has no RuntimeDefault or Localhost seccomp profile"
            ));
        }
    }
    v
}
