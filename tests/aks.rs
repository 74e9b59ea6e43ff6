//! AKS through Azure Resource Manager, end to end. Self-tests of the Entra and
//! ARM stand-in (`common::azure`) come first, so a broken stand-in shows as
//! such rather than as a daemon failure.

mod common;

use common::azure::{AzureStandIn, Fault, Fleet, StandInOptions};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const API: &str = "api-version=2025-10-01";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn start(options: StandInOptions) -> (tempfile::TempDir, AzureStandIn) {
    let dir = tempfile::tempdir().unwrap();
    let azure = AzureStandIn::start(dir.path(), options);
    (dir, azure)
}

/// A client that trusts only the stand-in's CA.
fn client(azure: &AzureStandIn) -> reqwest::Client {
    drover::tls::install_crypto_provider();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(azure.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn token_response(
    http: &reqwest::Client,
    azure: &AzureStandIn,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", azure.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// An access token for the default credentials.
async fn token(http: &reqwest::Client, azure: &AzureStandIn) -> String {
    let o = StandInOptions::default();
    let (status, body) =
        token_response(http, azure, &o.tenant, &o.client_id, &o.client_secret).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// GET `path_and_query` (relative to the stand-in, or an absolute URL):
/// (status, response).
async fn get(
    http: &reqwest::Client,
    azure: &AzureStandIn,
    token: &str,
    path: &str,
) -> reqwest::Response {
    let url = if path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{}{path}", azure.url)
    };
    http.get(url).bearer_auth(token).send().await.unwrap()
}

async fn get_json(
    http: &reqwest::Client,
    azure: &AzureStandIn,
    token: &str,
    path: &str,
) -> (u16, Value) {
    let response = get(http, azure, token, path).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------- Self-tests

#[test]
fn standin_token_ok_and_entra_errors() {
    let (_dir, azure) = start(StandInOptions::default());
    assert!(azure.ca_file.exists());
    let o = StandInOptions::default();
    runtime().block_on(async {
        let http = client(&azure);
        let (status, body) =
            token_response(&http, &azure, &o.tenant, &o.client_id, &o.client_secret).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3599);
        assert!(body["access_token"].as_str().unwrap().len() > 20);

        let (status, body) = token_response(&http, &azure, &o.tenant, &o.client_id, "wrong").await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], 7000215);
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(description.contains(&o.client_id) && description.contains("Trace ID: "));

        let (status, body) = token_response(&http, &azure, &o.tenant, "someone-else", "x").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "unauthorized_client");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS700016:")
        );

        let (status, body) = token_response(&http, &azure, "not-a-tenant", &o.client_id, "x").await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS90002:")
        );

        let response = http
            .get(format!(
                "{}/{}/v2.0/.well-known/openid-configuration",
                azure.url, o.tenant
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let config: Value = response.json().await.unwrap();
        assert_eq!(
            config["token_endpoint"],
            format!("{}/{}/oauth2/v2.0/token", azure.url, o.tenant)
        );
    });
    assert_eq!(azure.token_requests.load(Ordering::SeqCst), 5);
    assert_eq!(azure.arm_requests.load(Ordering::SeqCst), 0);
    assert_eq!(azure.issued_tokens(), 1);
}

#[test]
fn standin_arm_needs_a_token_and_an_api_version() {
    let (_dir, azure) = start(StandInOptions::default());
    runtime().block_on(async {
        let http = client(&azure);
        let response = http
            .get(format!("{}/subscriptions?{API}", azure.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("x-ms-request-id"));
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "InvalidAuthenticationToken");

        let (status, body) =
            get_json(&http, &azure, "made-up", &format!("/subscriptions?{API}")).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "InvalidAuthenticationToken")
        );

        let token = token(&http, &azure).await;
        let (status, body) = get_json(&http, &azure, &token, "/subscriptions").await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "MissingApiVersionParameter")
        );

        let (status, body) =
            get_json(&http, &azure, &token, &format!("/subscriptions?{API}")).await;
        assert_eq!(status, 200, "{body}");
        let subs = body["value"].as_array().unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(
            subs[0]["subscriptionId"],
            AzureStandIn::example_subscription()
        );
        assert_eq!(subs[0]["state"], "Enabled");
    });
    assert_eq!(azure.arm_requests.load(Ordering::SeqCst), 4);
}

#[test]
fn standin_example_subscription_serves_the_examples() {
    let (_dir, azure) = start(StandInOptions::default());
    let sub = AzureStandIn::example_subscription();
    assert_eq!(sub, "00000000-0000-0000-0000-000000000000");
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let list = format!("/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?{API}");
        let (status, body) = get_json(&http, &azure, &token, &list).await;
        assert_eq!(status, 200, "{body}");
        let clusters = body["value"].as_array().unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0]["name"], "clustername1");
        assert_eq!(clusters[0]["properties"]["kubernetesVersion"], "1.9.6");
        assert!(body.get("nextLink").is_none());

        let cluster = format!(
            "/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1"
        );
        for (path, check) in [
            (format!("{cluster}/upgradeProfiles/default?{API}"), "/properties/controlPlaneProfile/kubernetesVersion"),
            (format!("{cluster}/agentPools?{API}"), "/value/0/properties/vmSize"),
            (
                format!("/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/eastus/kubernetesVersions?{API}"),
                "/values/1/isDefault",
            ),
            (format!("/subscriptions/{sub}/locations?{API}"), "/value/3/metadata/geographyGroup"),
            (
                format!("/subscriptions/{sub}/providers/Microsoft.Compute/locations/eastus/vmSizes?{API}"),
                "/value/0/numberOfCores",
            ),
            (
                format!("/subscriptions/{sub}/providers/Microsoft.Network/virtualNetworks?{API}"),
                "/value/1/properties/subnets/0/properties/addressPrefix",
            ),
        ] {
            let (status, body) = get_json(&http, &azure, &token, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(body.pointer(check).is_some(), "{path}: no {check} in {body}");
        }

        let (status, body) = get_json(&http, &azure, &token, &format!("{cluster}x?{API}")).await;
        assert_eq!((status, error_code(&body)), (404, "ResourceNotFound"));
        let (status, body) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts?{API}"),
        )
        .await;
        assert_eq!((status, error_code(&body)), (404, "InvalidResourceType"));
        let (status, body) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{}/locations?{API}", AzureStandIn::fleet_subscription(0)),
        )
        .await;
        assert_eq!((status, error_code(&body)), (404, "SubscriptionNotFound"));
    });
}

#[test]
fn standin_fleet_pages_through_next_link() {
    let (_dir, azure) = start(StandInOptions {
        fleet: Some(Fleet {
            subscriptions: 3,
            clusters_per_subscription: 25,
            page_size: 10,
        }),
        ..Default::default()
    });
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let (_, subs) = get_json(&http, &azure, &token, &format!("/subscriptions?{API}")).await;
        assert_eq!(
            subs["value"].as_array().unwrap().len(),
            4,
            "example + fleet"
        );

        let mut all = HashSet::new();
        for i in 0..3 {
            let sub = AzureStandIn::fleet_subscription(i);
            let mut next = Some(format!(
                "/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?{API}"
            ));
            let (mut pages, mut clusters) = (0, 0);
            while let Some(path) = next.take() {
                let (status, body) = get_json(&http, &azure, &token, &path).await;
                assert_eq!(status, 200, "{body}");
                pages += 1;
                for c in body["value"].as_array().unwrap() {
                    clusters += 1;
                    let id = c["id"].as_str().unwrap();
                    assert!(id.contains("/resourcegroups/rg-"), "{id}");
                    assert!(all.insert(id.to_string()), "duplicate {id}");
                    assert_eq!(c["properties"]["futureField"]["x"], 1);
                    assert!(c["properties"]["fqdn"].is_string());
                    // Service-principal clusters carry no managed identity.
                    assert!(
                        c["identity"]["type"].is_string()
                            || c["properties"]["servicePrincipalProfile"]["clientId"].is_string()
                    );
                }
                next = body["nextLink"].as_str().map(str::to_string);
                if let Some(link) = &next {
                    assert!(
                        link.starts_with(&azure.url) && link.contains("$skiptoken="),
                        "{link}"
                    );
                }
            }
            assert_eq!((pages, clusters), (3, 25), "subscription {i}");
        }
        assert_eq!(all.len(), 75);
    });
    assert_eq!(azure.arm_requests.load(Ordering::SeqCst), 1 + 3 * 3);
}

#[test]
fn standin_lowercase_resourcegroups_path() {
    let (_dir, azure) = start(StandInOptions {
        fleet: Some(Fleet {
            subscriptions: 1,
            clusters_per_subscription: 5,
            page_size: 100,
        }),
        ..Default::default()
    });
    let example = AzureStandIn::example_subscription();
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let path = format!(
            "/subscriptions/{example}/resourcegroups/rg1/providers/microsoft.containerservice/ManagedClusters/clustername1?{API}"
        );
        let (status, body) = get_json(&http, &azure, &token, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "clustername1");
        let (status, body) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{example}/resourcegroups/RG1/providers/Microsoft.ContainerService/managedClusters?{API}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"][0]["name"], "clustername1");

        // A fleet cluster's own id (lowercase `resourcegroups`) gets it.
        let sub = AzureStandIn::fleet_subscription(0);
        let list = format!("/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?{API}");
        let (_, body) = get_json(&http, &azure, &token, &list).await;
        let listed = &body["value"][3];
        let id = listed["id"].as_str().unwrap();
        let (status, one) = get_json(&http, &azure, &token, &format!("{id}?{API}")).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(&one, listed);
        let (status, pools) = get_json(&http, &azure, &token, &format!("{id}/agentPools?{API}")).await;
        assert_eq!(status, 200, "{pools}");
        assert_eq!(pools["value"][0]["name"], "system");
        let (status, body) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{sub}/resourceGroups/rg-3/providers/Microsoft.ContainerService/managedClusters?{API}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"].as_array().unwrap().len(), 1);
        assert_eq!(body["value"][0]["name"], "aks-0-3");
        let (status, body) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{sub}/resourceGroups/rg-9/providers/Microsoft.ContainerService/managedClusters?{API}"),
        )
        .await;
        assert_eq!((status, error_code(&body)), (404, "ResourceGroupNotFound"));
    });
}

#[test]
fn standin_too_many_requests_then_success() {
    let (_dir, azure) = start(StandInOptions {
        faults: vec![
            Fault::TooManyRequests {
                path_contains: "microsoft.containerservice/MANAGEDCLUSTERS".into(),
                times: 2,
                retry_after_secs: 7,
            },
            Fault::ServerError {
                path_contains: "/locations?".into(),
                times: 1,
            },
        ],
        latency: Duration::from_millis(20),
        ..Default::default()
    });
    let sub = AzureStandIn::example_subscription();
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let list = format!(
            "/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?{API}"
        );
        for _ in 0..2 {
            let started = Instant::now();
            let response = get(&http, &azure, &token, &list).await;
            assert!(started.elapsed() >= Duration::from_millis(20), "latency");
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["retry-after"], "7");
            let body: Value = response.json().await.unwrap();
            assert_eq!(error_code(&body), "TooManyRequests");
        }
        let (status, body) = get_json(&http, &azure, &token, &list).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["value"][0]["name"], "clustername1");

        let locations = format!("/subscriptions/{sub}/locations?{API}");
        let (status, body) = get_json(&http, &azure, &token, &locations).await;
        assert_eq!((status, error_code(&body)), (500, "InternalServerError"));
        let (status, _) = get_json(&http, &azure, &token, &locations).await;
        assert_eq!(status, 200);
    });
    assert_eq!(azure.arm_requests.load(Ordering::SeqCst), 5);
}

#[test]
fn standin_forbidden_subscription() {
    let denied = "dead0000-0000-4000-8000-00000000beef";
    let (_dir, azure) = start(StandInOptions {
        faults: vec![Fault::Forbidden {
            subscription: denied.into(),
        }],
        ..Default::default()
    });
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let (_, subs) = get_json(&http, &azure, &token, &format!("/subscriptions?{API}")).await;
        let ids: Vec<&str> = subs["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["subscriptionId"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&denied), "{ids:?}");

        for (path, action) in [
            (
                "providers/Microsoft.ContainerService/managedClusters",
                "Microsoft.ContainerService/managedClusters/read",
            ),
            (
                "providers/Microsoft.Network/virtualNetworks",
                "Microsoft.Network/virtualNetworks/read",
            ),
        ] {
            let response = get(
                &http,
                &azure,
                &token,
                &format!("/subscriptions/{denied}/{path}?{API}"),
            )
            .await;
            assert_eq!(response.status(), 403);
            assert!(response.headers().contains_key("x-ms-request-id"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(error_code(&body), "AuthorizationFailed");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("'{action}'")), "{message}");
            assert!(
                message.contains(&format!("'/subscriptions/{denied}'")),
                "{message}"
            );
            assert!(
                message.contains(&StandInOptions::default().client_id),
                "{message}"
            );
        }
    });
}

#[test]
fn standin_malformed_body() {
    let (_dir, azure) = start(StandInOptions {
        faults: vec![Fault::Malformed {
            path_contains: "managedclusters?".into(),
        }],
        ..Default::default()
    });
    let sub = AzureStandIn::example_subscription();
    runtime().block_on(async {
        let http = client(&azure);
        let token = token(&http, &azure).await;
        let list = format!(
            "/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?{API}"
        );
        for _ in 0..2 {
            let response = get(&http, &azure, &token, &list).await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            assert!(text.starts_with("{\"value\":["), "{text}");
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
        }
        let (status, _) = get_json(
            &http,
            &azure,
            &token,
            &format!("/subscriptions/{sub}/locations?{API}"),
        )
        .await;
        assert_eq!(status, 200);
    });
}

// ---- the daemon, the aks-discovery plugin and the CLI against the stand-in

use common::daemon::{Daemon, closed_port};

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(!out.status.success(), "drover {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn aks_clusters_lists_the_example_clusters_with_every_field() {
    let (dir, azure) = start(StandInOptions::default());
    let d = azure.daemon(dir.path(), "[\"*\"]", "s3cr3t-value", "standin", true);
    let found = d.cli_json(&["aks", "clusters", "--credential", "prod"]);
    let clusters = found["clusters"].as_array().unwrap();
    assert!(!clusters.is_empty(), "{found}");
    let c = clusters
        .iter()
        .find(|c| c["name"] == "clustername1")
        .unwrap();
    assert_eq!(c["subscription_id"], AzureStandIn::example_subscription());
    assert_eq!(c["resource_group"], "rg1");
    assert_eq!(c["location"], "location1");
    assert_eq!(c["kubernetes_version"], "1.9.6");
    assert_eq!(c["provisioning_state"], "Succeeded");
    assert_eq!(c["fqdn"], "dnsprefix1-abcd1234.hcp.eastus.azmk8s.io");
    assert_eq!(c["network"]["plugin"], "kubenet");
    assert_eq!(c["network"]["pod_cidr"], "10.244.0.0/16");
    assert_eq!(c["network"]["service_cidr"], "10.0.0.0/16");
    assert_eq!(c["network"]["dns_service_ip"], "10.0.0.10");
    assert_eq!(c["node_pools"][0]["name"], "nodepool1");
    assert_eq!(c["node_pools"][0]["count"], 3);
    assert_eq!(c["node_pools"][0]["vm_size"], "Standard_DS1_v2");
    assert_eq!(c["node_pools"][0]["os_type"], "Linux");
    assert_eq!(c["node_resource_group"], "MC_rg1_clustername1_location1");
    assert_eq!(c["tags"]["tier"], "production");
    for field in [
        "power_state",
        "private_fqdn",
        "private_api_server",
        "authorized_ip_ranges",
        "aad",
        "local_accounts_disabled",
        "identity_type",
        "first_seen",
        "last_seen",
    ] {
        assert!(c.get(field).is_some(), "{field} missing from {c}");
    }
    assert_eq!(found["new"], clusters.len());
    // The table, the inventory and one cluster.
    let table =
        String::from_utf8_lossy(&d.cli(&["aks", "clusters", "--credential", "prod"]).stdout)
            .to_string();
    assert!(
        table.starts_with("NAME") && table.contains("clustername1"),
        "{table}"
    );
    let again = d.cli_json(&["aks", "clusters", "--credential", "prod"]);
    assert_eq!(again["new"], 0);
    assert_eq!(again["updated"], clusters.len());
    let listed = d.cli_json(&["aks", "ls"]);
    assert_eq!(listed.as_array().unwrap().len(), clusters.len());
    let shown = d.cli_json(&["aks", "show", c["id"].as_str().unwrap()]);
    assert_eq!(shown["name"], "clustername1");
    assert!(shown["last_seen"].as_i64() >= shown["first_seen"].as_i64());

    // Lookups.
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    let versions = names(d.cli_json(&[
        "aks",
        "versions",
        "--credential",
        "prod",
        "--location",
        "eastus",
    ]));
    assert!(versions.contains(&"1.24.9".to_string()), "{versions:?}");
    let upgrades = names(d.cli_json(&[
        "aks",
        "upgrades",
        "--credential",
        "prod",
        "--cluster",
        "clustername1",
    ]));
    assert!(upgrades.contains(&"1.7.11".to_string()), "{upgrades:?}");
    let locations = names(d.cli_json(&["aks", "locations", "--credential", "prod"]));
    assert!(locations.contains(&"eastus".to_string()), "{locations:?}");
    let sizes = names(d.cli_json(&[
        "aks",
        "vm-sizes",
        "--credential",
        "prod",
        "--location",
        "eastus",
    ]));
    assert!(sizes.contains(&"Standard_D2s_v3".to_string()), "{sizes:?}");
    let vnets = d.cli_json(&["aks", "vnets", "--credential", "prod"]);
    assert!(!vnets.as_array().unwrap().is_empty());
    assert!(fails(&d, &["aks", "versions", "--credential", "prod"]).contains("location"));
    let check = d.cli_json(&["aks", "check-credential", "prod"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["cloud"], "standin");

    // Every ARM call is in the audit log, and the secret is nowhere.
    let audit = String::from_utf8_lossy(
        &d.cli(&["audit", "--plugin", "aks-discovery", "-o", "json"])
            .stdout,
    )
    .to_string();
    assert!(audit.contains("managedClusters"), "{audit}");
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(!log.contains("s3cr3t-value") && !audit.contains("s3cr3t-value"));
}

#[test]
fn paging_retries_and_unusual_casing_are_handled() {
    let fleet = Fleet {
        subscriptions: 3,
        clusters_per_subscription: 25,
        page_size: 10,
    };
    let (dir, azure) = start(StandInOptions {
        example_subscription: false,
        fleet: Some(fleet),
        faults: vec![
            Fault::TooManyRequests {
                path_contains: "managedclusters".into(),
                times: 2,
                retry_after_secs: 1,
            },
            Fault::ServerError {
                path_contains: "skiptoken".into(),
                times: 2,
            },
        ],
        ..Default::default()
    });
    let d = azure.daemon(dir.path(), "[\"*\"]", "s3cr3t-value", "standin", true);
    let started = Instant::now();
    let found = d.cli_json(&["aks", "clusters", "--credential", "prod"]);
    let ids: HashSet<String> = found["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(ids.len(), 75, "{}", found["failures"]);
    assert!(found["failures"].as_array().unwrap().is_empty());
    // Retry-After was honoured (1 s), not hammered.
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Generated ids use `resourcegroups`: the group is still read.
    assert!(
        found["clusters"][0]["resource_group"]
            .as_str()
            .unwrap()
            .starts_with("rg-")
    );
}

#[test]
fn azure_faults_are_clear_errors_and_keep_the_inventory() {
    let forbidden = "11111111-2222-3333-4444-555555555555".to_string();
    let (dir, azure) = start(StandInOptions {
        faults: vec![Fault::Forbidden {
            subscription: forbidden.clone(),
        }],
        ..Default::default()
    });
    let example = AzureStandIn::example_subscription();
    // Only the example subscription and the forbidden one are granted.
    let grant = format!("[{example:?}, {forbidden:?}]");
    let d = azure.daemon(dir.path(), &grant, "s3cr3t-value", "standin", true);
    let first = d.cli_json(&[
        "aks",
        "clusters",
        "--credential",
        "prod",
        "--subscription",
        &example,
    ]);
    let count = first["clusters"].as_array().unwrap().len();
    assert!(count > 0);

    // 403 from ARM: which role is missing on which scope.
    let e = fails(
        &d,
        &[
            "aks",
            "clusters",
            "--credential",
            "prod",
            "--subscription",
            &forbidden,
        ],
    );
    assert!(
        e.contains("AuthorizationFailed") && e.contains("Reader"),
        "{e}"
    );
    assert!(e.contains(&forbidden), "{e}");
    // An ungranted subscription: denied, naming the grant to add.
    let e = fails(
        &d,
        &[
            "aks",
            "clusters",
            "--credential",
            "prod",
            "--subscription",
            "99999999-0000-0000-0000-000000000000",
        ],
    );
    assert!(
        e.contains("(denied)") && e.contains("not granted") && e.contains("subscriptions"),
        "{e}"
    );
    // An unknown credential.
    let e = fails(&d, &["aks", "clusters", "--credential", "nope"]);
    assert!(e.contains("nope"), "{e}");
    // The inventory is as the first discovery left it.
    assert_eq!(d.cli_json(&["aks", "ls"]).as_array().unwrap().len(), count);
    let check = d.cli(&["aks", "check-credential", "prod"]);
    assert!(check.status.success(), "{check:?}");

    // A wrong secret: the Entra error and a hint, and still nothing lost.
    let (dir2, azure2) = start(StandInOptions::default());
    let d2 = azure2.daemon(dir2.path(), "[\"*\"]", "wrong-secret", "standin", true);
    let e = fails(&d2, &["aks", "clusters", "--credential", "prod"]);
    assert!(e.contains("AADSTS7000215"), "{e}");
    assert!(
        e.contains("(credential-unavailable)"),
        "a credential problem, not an ARM answer: {e}"
    );
    assert!(e.contains("drover credential rotate prod"), "{e}");
    assert!(!e.contains("wrong-secret"));
    let check = d2.cli(&["aks", "check-credential", "prod", "-o", "json"]);
    assert!(!check.status.success());
    let check: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(
        check["problems"][0]
            .as_str()
            .unwrap()
            .contains("AADSTS7000215"),
        "{check}"
    );

    // An unknown cloud: the known ones are listed.
    let (dir3, azure3) = start(StandInOptions::default());
    let d3 = azure3.daemon(dir3.path(), "[\"*\"]", "s3cr3t-value", "Mars", true);
    let e = fails(&d3, &["aks", "clusters", "--credential", "prod"]);
    assert!(
        e.contains("AzurePublicCloud") && e.contains("AzureChinaCloud") && e.contains("standin"),
        "{e}"
    );

    // Malformed JSON from ARM: that subscription fails, the inventory stays.
    let (dir4, azure4) = start(StandInOptions {
        faults: vec![Fault::Malformed {
            path_contains: "managedclusters".into(),
        }],
        ..Default::default()
    });
    let d4 = azure4.daemon(dir4.path(), "[\"*\"]", "s3cr3t-value", "standin", true);
    let e = fails(&d4, &["aks", "clusters", "--credential", "prod"]);
    assert!(
        e.contains("not JSON") && e.contains("MalformedResponse"),
        "{e}"
    );
    assert!(d4.cli_json(&["aks", "ls"]).as_array().unwrap().is_empty());
}

/// A daemon granted credential `host` (kind azure-default, cloud `standin`)
/// with `env` in its environment.
fn default_chain_daemon(
    home: &std::path::Path,
    azure: &AzureStandIn,
    env: &[(&str, &str)],
) -> Daemon {
    let config = home.join("drover.toml");
    azure.write_daemon_config(
        &config,
        "host",
        "[\"*\"]",
        "managed_identity_timeout = \"300ms\"",
    );
    let d = Daemon::start_with_env(
        home,
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        Some(&home.join("daemon.log")),
        env,
    );
    let out = d.cli(&[
        "credential",
        "add",
        "host",
        "--kind",
        "azure-default",
        "--cloud",
        "standin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

#[test]
fn azure_default_uses_the_daemons_environment_then_explains_every_source() {
    let o = StandInOptions::default();
    let (dir, azure) = start(StandInOptions::default());
    // The daemon's own environment carries a client secret: the chain's first source.
    let d = default_chain_daemon(
        dir.path(),
        &azure,
        &[
            ("AZURE_TENANT_ID", &o.tenant),
            ("AZURE_CLIENT_ID", &o.client_id),
            ("AZURE_CLIENT_SECRET", &o.client_secret),
        ],
    );
    let found = d.cli_json(&["aks", "clusters", "--credential", "host"]);
    assert!(
        found["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "clustername1"),
        "{found}"
    );
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(log.contains("azure-default: using this identity"), "{log}");
    assert!(!log.contains(&o.client_secret));

    // No identity at all: every source is named with its reason, quickly
    // (the managed identity wait is bounded by the config's 300 ms).
    let dir2 = tempfile::tempdir().unwrap();
    let d2 = default_chain_daemon(dir2.path(), &azure, &[]);
    let started = Instant::now();
    let e = fails(&d2, &["aks", "clusters", "--credential", "host"]);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    for source in [
        "environment",
        "workload identity",
        "managed identity",
        "Azure CLI",
    ] {
        assert!(e.contains(source), "{source} missing from: {e}");
    }
    assert!(e.contains("AZURE_CLIENT_SECRET"), "{e}");
}

#[test]
fn azure_default_falls_through_to_workload_identity_and_the_azure_cli() {
    let o = StandInOptions::default();
    let (_dir, azure) = start(StandInOptions::default());
    let found_example = |d: &Daemon| {
        let found = d.cli_json(&["aks", "clusters", "--credential", "host"]);
        let clusters = found["clusters"].as_array().unwrap();
        assert!(
            clusters.iter().any(|c| c["name"] == "clustername1"),
            "{found}"
        );
    };

    // Workload identity: a projected federated token and no secret anywhere.
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("azure-identity-token");
    let workload_daemon = |home: &std::path::Path| {
        let file = token_file.to_str().unwrap();
        default_chain_daemon(
            home,
            &azure,
            &[
                ("AZURE_TENANT_ID", &o.tenant),
                ("AZURE_CLIENT_ID", &o.client_id),
                ("AZURE_FEDERATED_TOKEN_FILE", file),
            ],
        )
    };
    std::fs::write(&token_file, &o.federated_token).unwrap();
    let d = workload_daemon(home.path());
    found_example(&d);
    let log = std::fs::read_to_string(home.path().join("daemon.log")).unwrap();
    assert!(log.contains("source=\"workload identity\""), "{log}");
    assert!(!log.contains(&o.federated_token));

    // A federated token Entra does not trust: the Entra text says so.
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.someone-else.sig").unwrap();
    let home2 = tempfile::tempdir().unwrap();
    let d2 = workload_daemon(home2.path());
    let e = fails(&d2, &["aks", "clusters", "--credential", "host"]);
    assert!(e.contains("workload identity"), "{e}");
    assert!(e.contains("AADSTS700213"), "{e}");

    // The Azure CLI: nothing in the environment, no metadata endpoint, and
    // an `az` on PATH that is logged in (a script printing what
    // `az account get-access-token -o json` prints).
    let home3 = tempfile::tempdir().unwrap();
    let bin = home3.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let calls = home3.path().join("az-calls");
    let az = bin.join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\n\
             echo \"$*\" >> {calls}\n\
             case \"$*\" in\n\
             \"account get-access-token -o json --scope \"*) ;;\n\
             *) echo \"ERROR: unexpected arguments: $*\" >&2; exit 2 ;;\n\
             esac\n\
             exp=$(( $(date +%s) + 3600 ))\n\
             printf '{{\"accessToken\": \"{token}\", \"expiresOn\": \"2030-01-01 00:00:00.000000\", \
             \"expires_on\": %s, \"subscription\": \"{sub}\", \"tenant\": \"{tenant}\", \
             \"tokenType\": \"Bearer\"}}\\n' \"$exp\"\n",
            calls = calls.display(),
            token = azure.mint_token(),
            sub = AzureStandIn::example_subscription(),
            tenant = o.tenant,
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let d3 = default_chain_daemon(home3.path(), &azure, &[("PATH", &path)]);
    found_example(&d3);
    let log = std::fs::read_to_string(home3.path().join("daemon.log")).unwrap();
    assert!(log.contains("source=\"Azure CLI\""), "{log}");
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(calls.contains("/.default"), "{calls}");
}

#[test]
fn a_slow_arm_is_retried_then_reported_as_a_timeout() {
    let (dir, azure) = start(StandInOptions {
        faults: vec![Fault::Slow {
            path_contains: "managedclusters".into(),
            delay: Duration::from_secs(3),
        }],
        ..Default::default()
    });
    let d = azure.daemon(dir.path(), "[\"*\"]", "s3cr3t-value", "standin", true);
    // Tighten the per-request timeout: restart with it set.
    let config = dir.path().join("drover.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[azure]\n", "[azure]\nrequest_timeout = \"500ms\"\n");
    std::fs::write(&config, text).unwrap();
    assert!(d.stop().success());
    let d = Daemon::start_with(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        Some(&dir.path().join("daemon.log")),
    );
    let before = azure.arm_requests.load(Ordering::Relaxed);
    let e = fails(&d, &["aks", "clusters", "--credential", "prod"]);
    assert!(
        e.contains("(timeout)") && e.contains("did not answer") && e.contains("500ms"),
        "{e}"
    );
    // Every attempt was made (5), then it gave up.
    let attempts = azure.arm_requests.load(Ordering::Relaxed) - before;
    assert!(attempts >= 5, "{attempts} ARM requests");
    assert!(d.cli_json(&["aks", "ls"]).as_array().unwrap().is_empty());
}

#[test]
fn an_authority_or_arm_that_cannot_be_reached_is_named_at_once() {
    let (dir, azure) = start(StandInOptions::default());
    let bad_tls = common::azure::CaAsServer::start();
    let dead = format!("https://127.0.0.1:{}", closed_port());
    // Trust both the stand-in and the misconfigured server's CA: the TLS
    // failure is the certificate's use, not an unknown issuer.
    let ca_file = dir.path().join("cas.pem");
    std::fs::write(&ca_file, format!("{}{}", azure.ca_pem, bad_tls.ca_pem)).unwrap();
    // Per cloud: its authority, its ARM, and what is said of the one of the
    // two that is not the stand-in.
    let cases = [
        (
            "dead-entra",
            dead.as_str(),
            azure.url.as_str(),
            "cannot connect to the Entra authority",
        ),
        (
            "tls-entra",
            bad_tls.url.as_str(),
            azure.url.as_str(),
            "the TLS handshake failed with the Entra authority",
        ),
        (
            "dead-arm",
            azure.url.as_str(),
            dead.as_str(),
            "cannot connect to ARM",
        ),
        (
            "tls-arm",
            azure.url.as_str(),
            bad_tls.url.as_str(),
            "the TLS handshake failed with ARM",
        ),
    ];
    let mut text = format!("[azure]\nca_file = {ca_file:?}\n");
    for (cloud, authority, arm, _) in cases {
        text.push_str(&format!(
            "[azure.clouds.{cloud}]\nauthority_host = {authority:?}\nresource_manager = {arm:?}\n"
        ));
    }
    text.push_str(
        "[plugins.aks-discovery.azure]\ncredentials = [\"*\"]\nsubscriptions = [\"*\"]\n\
         methods = [\"GET\"]\npaths = [\"/subscriptions\", \"/subscriptions/**\"]\n",
    );
    let d = Daemon::start_configured(dir.path(), "127.0.0.1:0", &text, None);
    for (cloud, authority, arm, what) in cases {
        let unreachable = if authority == azure.url {
            arm
        } else {
            authority
        };
        let host = unreachable.trim_start_matches("https://");
        azure.add_credential(&d, cloud, cloud, "s3cr3t-value");
        let started = std::time::Instant::now();
        let out = d.cli(&["aks", "check-credential", cloud]);
        let took = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{cloud}: {text}");
        assert!(
            text.contains(what) && text.contains(host),
            "{cloud}: {text}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{cloud}: answered after {took:?}"
        );
        // Discovery says the same, as its operation's failure.
        let e = fails(&d, &["aks", "clusters", "--credential", cloud]);
        assert!(e.contains(host), "{cloud}: {e}");
    }
}

#[test]
fn a_slow_tenant_is_discovered_as_an_operation_past_the_request_timeout() {
    let fleet = Fleet {
        subscriptions: 2,
        clusters_per_subscription: 12,
        page_size: 4,
    };
    let (dir, azure) = start(StandInOptions {
        example_subscription: false,
        fleet: Some(fleet),
        faults: vec![Fault::Slow {
            path_contains: "managedclusters".into(),
            delay: Duration::from_millis(800),
        }],
        ..Default::default()
    });
    // Requests may take 1 s; the discovery takes three pages of 0.8 s per
    // subscription.
    let config = dir.path().join("drover.toml");
    azure.write_daemon_config(&config, "prod", "[\"*\"]", "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.insert_str(0, "[api]\nrequest_timeout = \"1s\"\n");
    std::fs::write(&config, text).unwrap();
    let d = azure.daemon_with_config(dir.path(), &config, "s3cr3t-value", "standin");
    let started = std::time::Instant::now();
    let out = d.cli(&["aks", "clusters", "--credential", "prod", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["clusters"].as_array().unwrap().len(), 24, "{found}");
    // It was an operation, recorded with its summary, and it was audited.
    let id = found["operation"].as_str().unwrap();
    let op = d.cli_json(&["op", "show", id]);
    assert_eq!(op["kind"], "aks-discover");
    assert_eq!(op["status"], "succeeded");
    assert_eq!(op["steps"][0]["output"]["new"], 24);
    let audit = d.cli_json(&["audit", "--subject", "/v1/aks/discover"]);
    assert_eq!(audit[0]["status"], "202", "{audit}");
}

#[test]
fn missing_groups_dual_stack_and_service_principals_are_reported_as_they_are() {
    let fleet = Fleet {
        subscriptions: 2,
        clusters_per_subscription: 6,
        page_size: 10,
    };
    let (dir, azure) = start(StandInOptions {
        example_subscription: false,
        fleet: Some(fleet),
        ..Default::default()
    });
    let d = azure.daemon(dir.path(), "[\"*\"]", "s3cr3t-value", "standin", true);
    // rg-5 exists in every subscription; rg-9 in none.
    let found = d.cli_json(&[
        "aks",
        "clusters",
        "--credential",
        "prod",
        "--resource-group",
        "rg-5",
        "--resource-group",
        "rg-9",
    ]);
    let clusters = found["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2, "{found}");
    let failures = found["failures"].as_array().unwrap();
    assert_eq!(
        failures.len(),
        2,
        "one finding per subscription, for rg-9: {failures:?}"
    );
    for f in failures {
        assert_eq!(f["resource_group"], "rg-9", "{f}");
        assert_eq!(f["error"]["code"], "not-found", "{f}");
    }
    // Cluster 5 of each subscription is dual-stack and a service principal's.
    for c in clusters {
        let n = &c["network"];
        assert_eq!(
            n["pod_cidrs"],
            serde_json::json!(["10.244.0.0/16", "fd12:3456:789a::/64"])
        );
        assert_eq!(
            n["service_cidrs"],
            serde_json::json!(["10.0.0.0/16", "fd12:3456:789a:1::/108"])
        );
        assert_eq!(n["pod_cidr"], "10.244.0.0/16");
        assert_eq!(c["identity_type"], "None");
    }
    // A group that exists nowhere is a finding, not a failed discovery.
    let out = d.cli(&[
        "aks",
        "clusters",
        "--credential",
        "prod",
        "--resource-group",
        "rg-9",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("resource group rg-9 does not exist"), "{e}");
    assert!(!e.contains("not searched"), "{e}");
}
