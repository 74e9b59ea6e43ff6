//! A Microsoft Entra and Azure Resource Manager stand-in on 127.0.0.1, over
//! HTTPS with its own CA: the client-credentials token endpoint (with Entra's
//! error shapes), and the ARM reads the daemon makes for AKS (subscriptions,
//! managed clusters, upgrade profiles, agent pools, Kubernetes versions,
//! locations, VM sizes, virtual networks) with ARM's error shapes. Cluster
//! bodies come verbatim from Microsoft's example payloads
//! (`tests/fixtures/azure-examples`) for the examples' subscription, and are generated
//! for a fleet of subscriptions to test scale. Faults (throttling, server
//! errors, malformed bodies, denied subscriptions, slowness) are injected per
//! request path.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where Microsoft's example payloads live (see its README.md).
pub const EXAMPLES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/azure-examples/2025-10-01"
);

/// What real Entra puts between the parts of an `error_description`
/// ("AADSTS…: message\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …").
const ENTRA_LINE_BREAK: &str = "\r\n";

pub struct AzureStandIn {
    /// `https://127.0.0.1:PORT`: both the Entra authority host and the ARM
    /// endpoint.
    pub url: String,
    /// PEM of the CA that signed the server certificate (SANs: IP 127.0.0.1,
    /// DNS localhost).
    pub ca_pem: String,
    /// `ca_pem`, written to `dir/azure-ca.pem`.
    pub ca_file: PathBuf,
    /// ARM requests served (any status).
    pub arm_requests: Arc<AtomicU64>,
    /// Entra requests served: token, OpenID configuration, instance discovery.
    pub token_requests: Arc<AtomicU64>,
    shared: Arc<Shared>,
    _loopback: Loopback,
}

#[derive(Clone)]
pub struct StandInOptions {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// The federated token (the projected service-account token workload
    /// identity presents) the token endpoint accepts as a client assertion.
    pub federated_token: String,
    /// Serve the example payloads for the subscription id in the examples'
    /// parameters.
    pub example_subscription: bool,
    /// Generated subscriptions and clusters, for scale.
    pub fleet: Option<Fleet>,
    /// Added to every ARM request.
    pub latency: Duration,
    pub faults: Vec<Fault>,
}

impl Default for StandInOptions {
    fn default() -> Self {
        StandInOptions {
            tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "0a1b2c3d-0000-4000-8000-000000000001".into(),
            client_secret: "s3cr3t-value".into(),
            federated_token: "eyJhbGciOiJSUzI1NiJ9.federated.signature".into(),
            example_subscription: true,
            fleet: None,
            latency: Duration::ZERO,
            faults: vec![],
        }
    }
}

#[derive(Clone)]
pub struct Fleet {
    pub subscriptions: usize,
    pub clusters_per_subscription: usize,
    /// Clusters per page of a list; the rest is behind `nextLink`.
    pub page_size: usize,
}

/// Injected misbehaviour. `path_contains` matches the request's path and
/// query, case-insensitively. Faults apply to Entra and ARM requests alike
/// (with each one's error shape), before normal handling; each counts its own
/// matches.
#[derive(Clone)]
pub enum Fault {
    /// 429 with `Retry-After` for the first `times` matching requests.
    TooManyRequests {
        path_contains: String,
        times: u32,
        retry_after_secs: u64,
    },
    /// 500 with an error body for the first `times` matching requests.
    ServerError { path_contains: String, times: u32 },
    /// 200 with the normal body cut in half, for every matching request.
    Malformed { path_contains: String },
    /// 403 AuthorizationFailed for anything under `/subscriptions/{subscription}`
    /// (after authentication); the subscription is still listed.
    Forbidden { subscription: String },
    /// `delay` before answering every matching request.
    Slow {
        path_contains: String,
        delay: Duration,
    },
}

/// A region, as `GET /subscriptions/{sub}/locations` describes it.
struct Region {
    name: &'static str,
    display: &'static str,
    regional: &'static str,
    geography: &'static str,
    latitude: &'static str,
    longitude: &'static str,
    physical: &'static str,
    paired: &'static str,
}

/// The four locations generated clusters use and `GET …/locations` lists.
const LOCATIONS: [Region; 4] = [
    Region {
        name: "eastus",
        display: "East US",
        regional: "(US) East US",
        geography: "US",
        latitude: "37.3719",
        longitude: "-79.8164",
        physical: "Virginia",
        paired: "westus",
    },
    Region {
        name: "westeurope",
        display: "West Europe",
        regional: "(Europe) West Europe",
        geography: "Europe",
        latitude: "52.3667",
        longitude: "4.9",
        physical: "Netherlands",
        paired: "northeurope",
    },
    Region {
        name: "northeurope",
        display: "North Europe",
        regional: "(Europe) North Europe",
        geography: "Europe",
        latitude: "53.3478",
        longitude: "-6.2597",
        physical: "Ireland",
        paired: "westeurope",
    },
    Region {
        name: "southeastasia",
        display: "Southeast Asia",
        regional: "(Asia Pacific) Southeast Asia",
        geography: "Asia Pacific",
        latitude: "1.283",
        longitude: "103.833",
        physical: "Singapore",
        paired: "eastasia",
    },
];

/// Kubernetes versions of generated clusters, oldest first; a cluster can
/// upgrade to the next one.
const VERSIONS: [&str; 4] = ["1.30.12", "1.31.8", "1.32.5", "1.33.1"];

/// The example payloads' bodies and parameters.
struct Examples {
    subscription: String,
    list: Value,
    list_rg: String,
    list_by_rg: Value,
    get_rg: String,
    get_name: String,
    get: Value,
    upgrade_profile: Value,
    agent_pools: Value,
    kubernetes_versions: Value,
}

fn example(file: &str) -> Value {
    let path = format!("{EXAMPLES_DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn example_body(doc: &Value) -> Value {
    doc["responses"]["200"]["body"].clone()
}

fn example_parameter(doc: &Value, name: &str) -> String {
    doc["parameters"][name]
        .as_str()
        .unwrap_or_else(|| panic!("example without parameter {name}"))
        .to_string()
}

impl Examples {
    fn load() -> Examples {
        let list = example("ManagedClustersList.json");
        let by_rg = example("ManagedClustersListByResourceGroup.json");
        let get = example("ManagedClustersGet.json");
        Examples {
            subscription: example_parameter(&list, "subscriptionId"),
            list: example_body(&list),
            list_rg: example_parameter(&by_rg, "resourceGroupName"),
            list_by_rg: example_body(&by_rg),
            get_rg: example_parameter(&get, "resourceGroupName"),
            get_name: example_parameter(&get, "resourceName"),
            get: example_body(&get),
            upgrade_profile: example_body(&example("ManagedClustersGetUpgradeProfile.json")),
            agent_pools: example_body(&example("AgentPoolsList.json")),
            kubernetes_versions: example_body(&example("KubernetesVersions_List.json")),
        }
    }
}

impl Shared {
    /// A new access token ARM will accept.
    fn mint(&self) -> String {
        let token = format!(
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}.{}",
            hex::encode(rand::random::<[u8; 32]>()),
            hex::encode(rand::random::<[u8; 32]>())
        );
        self.tokens.lock().unwrap().insert(token.clone());
        token
    }
}

struct Shared {
    options: StandInOptions,
    url: String,
    examples: Examples,
    /// Access tokens issued by the token endpoint.
    tokens: Mutex<HashSet<String>>,
    /// Matches so far, per fault.
    fault_hits: Vec<AtomicU64>,
    arm_requests: Arc<AtomicU64>,
    token_requests: Arc<AtomicU64>,
}

/// A subscription the stand-in serves.
#[derive(Clone, Copy)]
enum Sub {
    Example,
    Fleet(usize),
}

impl Shared {
    fn subscription(&self, id: &str) -> Option<Sub> {
        if self.options.example_subscription && id.eq_ignore_ascii_case(&self.examples.subscription)
        {
            return Some(Sub::Example);
        }
        let fleet = self.options.fleet.as_ref()?;
        (0..fleet.subscriptions)
            .find(|&i| id.eq_ignore_ascii_case(&AzureStandIn::fleet_subscription(i)))
            .map(Sub::Fleet)
    }

    fn forbidden(&self, id: &str) -> bool {
        self.options.faults.iter().any(|f| match f {
            Fault::Forbidden { subscription } => subscription.eq_ignore_ascii_case(id),
            _ => false,
        })
    }

    fn clusters_per_subscription(&self) -> usize {
        self.options
            .fleet
            .as_ref()
            .map_or(0, |f| f.clusters_per_subscription)
    }

    fn page_size(&self) -> usize {
        self.options
            .fleet
            .as_ref()
            .map_or(1, |f| f.page_size.max(1))
    }
}

/// A response before it is put on the wire (so a Malformed fault can cut it).
struct Reply {
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply::new(StatusCode::OK, body)
    }

    fn new(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: vec![],
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
    Reply::new(
        status,
        json!({ "error": { "code": code, "message": message.into() } }),
    )
}

/// An Entra error body, as the token endpoint sends it.
fn entra_error(status: StatusCode, error: &str, code: u32, message: &str) -> Reply {
    let trace = random_guid();
    let correlation = random_guid();
    let timestamp = entra_timestamp();
    let br = ENTRA_LINE_BREAK;
    Reply::new(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}{br}Trace ID: {trace}{br}Correlation ID: {correlation}{br}Timestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

fn random_guid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A GUID derived from `seed`, so generated resources are stable.
fn stable_guid(seed: &str) -> String {
    let h = hex::encode(Sha256::digest(seed.as_bytes()));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Now, as Entra writes it: `2025-06-01 12:34:56Z`.
fn entra_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Percent-decoding; `+` is a space in forms and queries, not in paths.
fn url_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` (a query or a form body) as decoded pairs.
fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k, true), url_decode(v, true))
        })
        .collect()
}

fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn is_entra(path: &[&str]) -> bool {
    matches!(
        path,
        [_, "oauth2", "v2.0", "token"]
            | [_, "v2.0", ".well-known", "openid-configuration"]
            | ["common", "discovery", "instance"]
    )
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| url_decode(p, false))
        .collect();
    let lower: Vec<String> = segments.iter().map(|p| p.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let entra = is_entra(&lower);
    if entra {
        s.token_requests.fetch_add(1, Ordering::SeqCst);
    } else {
        s.arm_requests.fetch_add(1, Ordering::SeqCst);
        if !s.options.latency.is_zero() {
            tokio::time::sleep(s.options.latency).await;
        }
    }

    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string())
        .to_ascii_lowercase();
    let matches = |needle: &str| target.contains(&needle.to_ascii_lowercase());
    let mut malformed = false;
    for (i, fault) in s.options.faults.iter().enumerate() {
        let hit = || s.fault_hits[i].fetch_add(1, Ordering::SeqCst);
        match fault {
            Fault::TooManyRequests {
                path_contains,
                times,
                retry_after_secs,
            } => {
                if matches(path_contains) && hit() < u64::from(*times) {
                    let reply = if entra {
                        entra_error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "temporarily_unavailable",
                            90033,
                            "A transient error has occurred. Please try again.",
                        )
                    } else {
                        arm_error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "TooManyRequests",
                            "The request is being throttled as the limit has been reached for operation type - \
                             Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits",
                        )
                    };
                    let reply = reply.header("retry-after", retry_after_secs.to_string());
                    return finish(reply, entra, false);
                }
            }
            Fault::ServerError {
                path_contains,
                times,
            } => {
                if matches(path_contains) && hit() < u64::from(*times) {
                    let reply = if entra {
                        entra_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "temporarily_unavailable",
                            90033,
                            "A transient error has occurred. Please try again.",
                        )
                    } else {
                        arm_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "InternalServerError",
                            format!(
                                "Encountered internal server error. Diagnostic information: timestamp '{}', \
                                 tracking id '{}', request correlation id '{}'.",
                                entra_timestamp(),
                                random_guid(),
                                random_guid()
                            ),
                        )
                    };
                    return finish(reply, entra, false);
                }
            }
            Fault::Malformed { path_contains } => {
                if matches(path_contains) {
                    hit();
                    malformed = true;
                }
            }
            Fault::Slow {
                path_contains,
                delay,
            } => {
                if matches(path_contains) {
                    hit();
                    tokio::time::sleep(*delay).await;
                }
            }
            Fault::Forbidden { .. } => {}
        }
    }

    let reply = if entra {
        entra_reply(&s, &method, &segments, &lower, &body)
    } else {
        arm_reply(&s, &method, &segments, &lower, &query, &headers)
    };
    finish(reply, entra, malformed)
}

fn finish(reply: Reply, entra: bool, malformed: bool) -> Response {
    let mut text = serde_json::to_string(&reply.body).unwrap();
    let mut status = reply.status;
    if malformed {
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        status = StatusCode::OK;
    }
    let mut response = (status, text).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let request_id = random_guid();
    h.insert(
        "x-ms-request-id",
        HeaderValue::from_str(&request_id).unwrap(),
    );
    if entra {
        h.insert(
            "x-ms-ests-server",
            HeaderValue::from_static("2.1.21000.5 - SCUS ProdSlices"),
        );
    } else {
        h.insert(
            "x-ms-correlation-request-id",
            HeaderValue::from_str(&request_id).unwrap(),
        );
        h.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            HeaderValue::from_static("11999"),
        );
    }
    for (name, value) in reply.headers {
        h.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    response
}

// ---------------------------------------------------------------- Entra

fn entra_reply(
    s: &Shared,
    method: &Method,
    segments: &[String],
    lower: &[&str],
    body: &[u8],
) -> Reply {
    let tenant = segments[0].as_str();
    match lower {
        [_, "oauth2", "v2.0", "token"] => token(s, method, tenant, body),
        [_, "v2.0", ".well-known", "openid-configuration"] => openid_configuration(s, tenant),
        _ => instance_discovery(s),
    }
}

fn tenant_not_found(tenant: &str) -> Reply {
    entra_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
             signing into the correct cloud. Check with your subscription administrator, this may happen \
             if there are no active subscriptions for the tenant."
        ),
    )
}

fn missing_parameter(name: &str) -> Reply {
    entra_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn token(s: &Shared, method: &Method, tenant: &str, body: &[u8]) -> Reply {
    let o = &s.options;
    if method != Method::POST {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
            ),
        );
    }
    if !tenant.eq_ignore_ascii_case(&o.tenant) {
        return tenant_not_found(tenant);
    }
    let form = parse_pairs(&String::from_utf8_lossy(body));
    let Some(grant_type) = pair(&form, "grant_type") else {
        return missing_parameter("grant_type");
    };
    if grant_type != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = pair(&form, "client_id").filter(|c| !c.is_empty()) else {
        return missing_parameter("client_id");
    };
    let Some(scope) = pair(&form, "scope") else {
        return missing_parameter("scope");
    };
    if !client_id.eq_ignore_ascii_case(&o.client_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can \
                 happen if the application has not been installed by the administrator of the tenant or \
                 consented to by any user in the tenant. You may have sent your authentication request to \
                 the wrong tenant.",
                o.tenant
            ),
        );
    }
    if let Some(assertion) = pair(&form, "client_assertion").filter(|c| !c.is_empty()) {
        // Workload identity: a federated token instead of a secret.
        if pair(&form, "client_assertion_type")
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return missing_parameter("client_assertion_type");
        }
        if assertion != o.federated_token {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700213,
                &format!(
                    "No matching federated identity record found for presented assertion subject. \
                     Please check your federated identity credential for app '{}'.",
                    o.client_id
                ),
            );
        }
    } else {
        let Some(secret) = pair(&form, "client_secret").filter(|c| !c.is_empty()) else {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            );
        };
        if secret != o.client_secret {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client \
                     secret value, not the client secret ID, for a secret added to app '{}'.",
                    o.client_id
                ),
            );
        }
    }
    if !scope.ends_with("/.default") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a \
                 scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    let access_token = s.mint();
    Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    }))
    .header("pragma", "no-cache")
}

fn openid_configuration(s: &Shared, tenant: &str) -> Reply {
    let known = tenant.eq_ignore_ascii_case(&s.options.tenant)
        || ["common", "organizations"]
            .iter()
            .any(|t| tenant.eq_ignore_ascii_case(t));
    if !known {
        return tenant_not_found(tenant);
    }
    let base = format!("{}/{tenant}", s.url);
    Reply::ok(json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                             "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
}

fn instance_discovery(s: &Shared) -> Reply {
    let host = s.url.trim_start_matches("https://").to_string();
    let port = host.rsplit(':').next().unwrap_or("443");
    Reply::ok(json!({
        "tenant_discovery_endpoint":
            format!("{}/common/v2.0/.well-known/openid-configuration", s.url),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host, format!("localhost:{port}")],
        }],
    }))
}

// ---------------------------------------------------------------- ARM

fn arm_reply(
    s: &Shared,
    method: &Method,
    segments: &[String],
    lower: &[&str],
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Reply {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if !token.is_some_and(|t| s.tokens.lock().unwrap().contains(t)) {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )
        .header(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", \
                 error_description=\"The access token is invalid.\"",
                s.url, s.options.tenant
            ),
        );
    }
    let Some(api_version) = pair(query, "api-version").filter(|v| !v.is_empty()) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    let unknown_type = || {
        arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource type could not be found for the request path '/{}' and api version '{api_version}'.",
                segments.join("/")
            ),
        )
    };
    match lower {
        ["subscriptions"] if method == Method::GET => list_subscriptions(s),
        ["subscriptions", _, rest @ ..] => {
            let sub_id = segments[1].as_str();
            if s.forbidden(sub_id) {
                return arm_error(
                    StatusCode::FORBIDDEN,
                    "AuthorizationFailed",
                    format!(
                        "The client '{client}' with object id '{client}' does not have authorization to \
                         perform action '{}' over scope '/subscriptions/{sub_id}' or the scope is invalid. \
                         If access was recently granted, please refresh your credentials.",
                        action(method, segments),
                        client = s.options.client_id,
                    ),
                );
            }
            let Some(sub) = s.subscription(sub_id) else {
                return arm_error(
                    StatusCode::NOT_FOUND,
                    "SubscriptionNotFound",
                    format!("The subscription '{sub_id}' could not be found."),
                );
            };
            if method != Method::GET {
                return unknown_type();
            }
            let names = &segments[2..];
            let arm = Arm {
                s,
                sub,
                sub_id,
                api_version,
                query,
            };
            match rest {
                [] => Reply::ok(subscription_json(s, sub_id, sub_display_name(sub))),
                ["locations"] => arm.locations(),
                ["providers", "microsoft.containerservice", "managedclusters"] => {
                    arm.list_clusters(None)
                }
                [
                    "providers",
                    "microsoft.containerservice",
                    "locations",
                    _,
                    "kubernetesversions",
                ] => Reply::ok(s.examples.kubernetes_versions.clone()),
                ["providers", "microsoft.compute", "locations", _, "vmsizes"] => vm_sizes(),
                ["providers", "microsoft.network", "virtualnetworks"] => arm.virtual_networks(),
                [
                    "resourcegroups",
                    _,
                    "providers",
                    "microsoft.containerservice",
                    "managedclusters",
                ] => arm.list_clusters(Some(&names[1])),
                [
                    "resourcegroups",
                    _,
                    "providers",
                    "microsoft.containerservice",
                    "managedclusters",
                    _,
                    tail @ ..,
                ] => arm.cluster(&names[1], &names[5], tail),
                _ => unknown_type(),
            }
        }
        _ => unknown_type(),
    }
}

/// The RBAC action a request needs, as ARM names it in AuthorizationFailed.
fn action(method: &Method, segments: &[String]) -> String {
    let verb = match *method {
        Method::GET | Method::HEAD => "read",
        Method::PUT | Method::PATCH => "write",
        Method::DELETE => "delete",
        _ => "action",
    };
    let (namespace, types_from) = match segments
        .iter()
        .rposition(|p| p.eq_ignore_ascii_case("providers"))
    {
        Some(p) if p + 1 < segments.len() => (segments[p + 1].clone(), p + 2),
        _ => ("Microsoft.Resources".to_string(), 0),
    };
    let mut parts = vec![namespace];
    parts.extend(segments.iter().skip(types_from).step_by(2).cloned());
    parts.push(verb.to_string());
    parts.join("/")
}

fn sub_display_name(sub: Sub) -> String {
    match sub {
        Sub::Example => "Example subscription".into(),
        Sub::Fleet(i) => format!("fleet-{i:03}"),
    }
}

fn subscription_json(s: &Shared, id: &str, display_name: String) -> Value {
    json!({
        "id": format!("/subscriptions/{id}"),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": id,
        "tenantId": s.options.tenant,
        "displayName": display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    })
}

fn list_subscriptions(s: &Shared) -> Reply {
    let mut value = vec![];
    let mut seen = HashSet::new();
    let mut add = |id: String, name: String| {
        if seen.insert(id.to_ascii_lowercase()) {
            value.push(subscription_json(s, &id, name));
        }
    };
    if s.options.example_subscription {
        add(
            s.examples.subscription.clone(),
            sub_display_name(Sub::Example),
        );
    }
    if let Some(fleet) = &s.options.fleet {
        for i in 0..fleet.subscriptions {
            add(
                AzureStandIn::fleet_subscription(i),
                sub_display_name(Sub::Fleet(i)),
            );
        }
    }
    for f in &s.options.faults {
        if let Fault::Forbidden { subscription } = f {
            add(subscription.clone(), "Restricted subscription".into());
        }
    }
    let count = value.len();
    Reply::ok(json!({ "count": { "type": "Total", "value": count }, "value": value }))
}

fn vm_sizes() -> Reply {
    let sizes = [
        ("Standard_B2s", 2, 4096, 8192, 4),
        ("Standard_D2s_v3", 2, 8192, 16384, 4),
        ("Standard_D4s_v3", 4, 16384, 32768, 8),
        ("Standard_D4ds_v5", 4, 16384, 153600, 8),
        ("Standard_E8s_v5", 8, 65536, 0, 16),
    ];
    let value: Vec<Value> = sizes
        .iter()
        .map(|(name, cores, memory, resource_disk, disks)| {
            json!({
                "name": name,
                "numberOfCores": cores,
                "osDiskSizeInMB": 1047552,
                "resourceDiskSizeInMB": resource_disk,
                "memoryInMB": memory,
                "maxDataDiskCount": disks,
            })
        })
        .collect();
    Reply::ok(json!({ "value": value }))
}

/// The parts of one ARM request below `/subscriptions/{sub}`.
struct Arm<'a> {
    s: &'a Shared,
    sub: Sub,
    sub_id: &'a str,
    api_version: &'a str,
    query: &'a [(String, String)],
}

enum Lookup {
    Example,
    Fleet(usize),
    NoGroup,
    NoCluster,
}

impl Arm<'_> {
    fn locations(&self) -> Reply {
        let sub = self.sub_id;
        let value: Vec<Value> = LOCATIONS
            .iter()
            .map(|r| {
                json!({
                    "id": format!("/subscriptions/{sub}/locations/{}", r.name),
                    "name": r.name,
                    "type": "Region",
                    "displayName": r.display,
                    "regionalDisplayName": r.regional,
                    "metadata": {
                        "regionType": "Physical",
                        "regionCategory": "Recommended",
                        "geographyGroup": r.geography,
                        "longitude": r.longitude,
                        "latitude": r.latitude,
                        "physicalLocation": r.physical,
                        "pairedRegion": [{
                            "name": r.paired,
                            "id": format!("/subscriptions/{sub}/locations/{}", r.paired),
                        }],
                    },
                })
            })
            .collect();
        Reply::ok(json!({ "value": value }))
    }

    fn virtual_networks(&self) -> Reply {
        let sub = self.sub_id;
        let vnet = |name: &str, location: &str, prefix: &str, subnets: &[(&str, &str)]| {
            let id = format!(
                "/subscriptions/{sub}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/{name}"
            );
            let subnets: Vec<Value> = subnets
                .iter()
                .map(|(subnet, prefix)| {
                    json!({
                        "name": subnet,
                        "id": format!("{id}/subnets/{subnet}"),
                        "etag": format!("W/\"{}\"", stable_guid(&format!("{id}/{subnet}"))),
                        "type": "Microsoft.Network/virtualNetworks/subnets",
                        "properties": {
                            "provisioningState": "Succeeded",
                            "addressPrefix": prefix,
                            "delegations": [],
                            "privateEndpointNetworkPolicies": "Disabled",
                            "privateLinkServiceNetworkPolicies": "Enabled",
                        },
                    })
                })
                .collect();
            json!({
                "name": name,
                "id": id,
                "etag": format!("W/\"{}\"", stable_guid(&id)),
                "type": "Microsoft.Network/virtualNetworks",
                "location": location,
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": stable_guid(&format!("{id}#guid")),
                    "addressSpace": { "addressPrefixes": [prefix] },
                    "subnets": subnets,
                    "virtualNetworkPeerings": [],
                    "enableDdosProtection": false,
                },
            })
        };
        Reply::ok(json!({ "value": [
            vnet("vnet-hub", "eastus", "10.0.0.0/16",
                 &[("AzureFirewallSubnet", "10.0.1.0/26"), ("GatewaySubnet", "10.0.2.0/27")]),
            vnet("vnet-aks", "westeurope", "10.224.0.0/12",
                 &[("aks-nodes", "10.224.0.0/16"), ("aks-pods", "10.225.0.0/16")]),
        ]}))
    }

    fn group_not_found(&self, rg: &str) -> Reply {
        arm_error(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// The fleet cluster index of resource group `rg-{n}`.
    fn fleet_group(&self, rg: &str) -> Option<usize> {
        let n: usize = rg.to_ascii_lowercase().strip_prefix("rg-")?.parse().ok()?;
        (n < self.s.clusters_per_subscription() && rg.eq_ignore_ascii_case(&format!("rg-{n}")))
            .then_some(n)
    }

    fn list_clusters(&self, rg: Option<&str>) -> Reply {
        let i = match self.sub {
            Sub::Example => {
                return match rg {
                    None => Reply::ok(self.s.examples.list.clone()),
                    Some(rg) if rg.eq_ignore_ascii_case(&self.s.examples.list_rg) => {
                        Reply::ok(self.s.examples.list_by_rg.clone())
                    }
                    Some(rg) => self.group_not_found(rg),
                };
            }
            Sub::Fleet(i) => i,
        };
        let members: Vec<usize> = match rg {
            None => (0..self.s.clusters_per_subscription()).collect(),
            Some(rg) => match self.fleet_group(rg) {
                Some(n) => vec![n],
                None => return self.group_not_found(rg),
            },
        };
        let skip = match pair(self.query, "$skiptoken") {
            None => 0,
            Some(t) => match t.parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    return arm_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidSkipToken",
                        format!("The provided skip token '{t}' is not valid."),
                    );
                }
            },
        };
        let start = skip.min(members.len());
        let end = start.saturating_add(self.s.page_size()).min(members.len());
        let value: Vec<Value> = members[start..end]
            .iter()
            .map(|&n| fleet_cluster(&self.s.options.tenant, self.sub_id, i, n))
            .collect();
        let mut body = json!({ "value": value });
        if end < members.len() {
            let scope = match rg {
                None => format!("/subscriptions/{}", self.sub_id),
                Some(rg) => format!("/subscriptions/{}/resourceGroups/{rg}", self.sub_id),
            };
            body["nextLink"] = json!(format!(
                "{}{scope}/providers/Microsoft.ContainerService/managedClusters?api-version={}&$skiptoken={end}",
                self.s.url, self.api_version
            ));
        }
        Reply::ok(body)
    }

    fn lookup(&self, rg: &str, name: &str) -> Lookup {
        match self.sub {
            Sub::Example => {
                let e = &self.s.examples;
                if !rg.eq_ignore_ascii_case(&e.get_rg) {
                    Lookup::NoGroup
                } else if name.eq_ignore_ascii_case(&e.get_name) {
                    Lookup::Example
                } else {
                    Lookup::NoCluster
                }
            }
            Sub::Fleet(i) => match self.fleet_group(rg) {
                None => Lookup::NoGroup,
                Some(n) if name.eq_ignore_ascii_case(&format!("aks-{i}-{n}")) => Lookup::Fleet(n),
                Some(_) => Lookup::NoCluster,
            },
        }
    }

    /// `…/managedClusters/{name}` and what is below it.
    fn cluster(&self, rg: &str, name: &str, tail: &[&str]) -> Reply {
        let found = match self.lookup(rg, name) {
            Lookup::NoGroup => return self.group_not_found(rg),
            Lookup::NoCluster => {
                return arm_error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    format!(
                        "The Resource 'Microsoft.ContainerService/managedClusters/{name}' under resource \
                         group '{rg}' was not found. For more details please go to \
                         https://aka.ms/ARMResourceNotFoundFix"
                    ),
                );
            }
            found => found,
        };
        let e = &self.s.examples;
        let generated = |n: usize| {
            let Sub::Fleet(i) = self.sub else {
                unreachable!()
            };
            fleet_cluster(&self.s.options.tenant, self.sub_id, i, n)
        };
        match (tail, found) {
            ([], Lookup::Example) => Reply::ok(e.get.clone()),
            ([], Lookup::Fleet(n)) => Reply::ok(generated(n)),
            (["upgradeprofiles", "default"], Lookup::Example) => {
                Reply::ok(e.upgrade_profile.clone())
            }
            (["upgradeprofiles", "default"], Lookup::Fleet(n)) => {
                Reply::ok(fleet_upgrade_profile(&generated(n)))
            }
            (["agentpools"], Lookup::Example) => Reply::ok(e.agent_pools.clone()),
            (["agentpools"], Lookup::Fleet(n)) => Reply::ok(fleet_agent_pools(&generated(n))),
            _ => arm_error(
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                format!(
                    "The resource type could not be found for the request path below cluster '{name}' \
                     and api version '{}'.",
                    self.api_version
                ),
            ),
        }
    }
}

/// Generated cluster `n` of fleet subscription `i`, shaped like the example
/// clusters (with more of today's fields, and one unknown field).
fn fleet_cluster(tenant: &str, sub: &str, i: usize, n: usize) -> Value {
    let name = format!("aks-{i}-{n}");
    let rg = format!("rg-{n}");
    let id = format!(
        "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"
    );
    let location = LOCATIONS[n % LOCATIONS.len()].name;
    let version = VERSIONS[(i + n) % VERSIONS.len()];
    let dns_prefix = format!("{name}-dns");
    let hash = &hex::encode(Sha256::digest(id.as_bytes()))[..8];
    let fqdn = format!("{dns_prefix}-{hash}.hcp.{location}.azmk8s.io");
    let power = if n % 7 == 6 { "Stopped" } else { "Running" };
    let provisioning = match n % 13 {
        11 => "Updating",
        12 => "Failed",
        _ => "Succeeded",
    };
    let node_rg = format!("MC_{rg}_{name}_{location}");
    let pool = |pool: &str, mode: &str, count: u32, vm_size: &str| {
        let mut p = json!({
            "name": pool,
            "count": count,
            "vmSize": vm_size,
            "osDiskSizeGB": 128,
            "osDiskType": "Ephemeral",
            "kubeletDiskType": "OS",
            "maxPods": 110,
            "type": "VirtualMachineScaleSets",
            "availabilityZones": ["1", "2", "3"],
            "enableAutoScaling": mode == "User",
            "provisioningState": provisioning,
            "powerState": { "code": power },
            "orchestratorVersion": version,
            "currentOrchestratorVersion": version,
            "enableNodePublicIP": false,
            "mode": mode,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202506.02.0",
            "upgradeSettings": { "maxSurge": "10%" },
            "enableFIPS": false,
            "eTag": stable_guid(&format!("{id}/{pool}")),
        });
        if mode == "User" {
            p["minCount"] = json!(1);
            p["maxCount"] = json!(5);
        }
        p
    };
    let mut pools = vec![pool("system", "System", 3, "Standard_D4ds_v5")];
    if n % 2 == 1 {
        pools.push(pool("user", "User", 2, "Standard_D4s_v3"));
    }
    let mut properties = json!({
        "provisioningState": provisioning,
        "powerState": { "code": power },
        "kubernetesVersion": version,
        "currentKubernetesVersion": version,
        "maxAgentPools": 100,
        "dnsPrefix": dns_prefix,
        "fqdn": fqdn,
        "azurePortalFQDN": format!("{dns_prefix}-{hash}.portal.hcp.{location}.azmk8s.io"),
        "agentPoolProfiles": pools,
        "servicePrincipalProfile": { "clientId": "msi" },
        "nodeResourceGroup": node_rg,
        "enableRBAC": true,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "networkPolicy": "none",
            "networkDataplane": "azure",
            "loadBalancerSku": "standard",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "outboundType": "loadBalancer",
            "podCidrs": ["10.244.0.0/16"],
            "serviceCidrs": ["10.0.0.0/16"],
            "ipFamilies": ["IPv4"],
        },
        "identityProfile": {
            "kubeletidentity": {
                "resourceId": format!(
                    "/subscriptions/{sub}/resourcegroups/{node_rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool"
                ),
                "clientId": stable_guid(&format!("{id}#kubelet-client")),
                "objectId": stable_guid(&format!("{id}#kubelet-object")),
            },
        },
        "oidcIssuerProfile": {
            "enabled": true,
            "issuerURL": format!("https://{location}.oic.prod-aks.azure.com/{tenant}/{}/", stable_guid(&id)),
        },
        "autoUpgradeProfile": { "upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage" },
        "disableLocalAccounts": n.is_multiple_of(4),
        "futureField": { "x": 1 },
    });
    if n.is_multiple_of(2) {
        properties["aadProfile"] = json!({
            "managed": true,
            "enableAzureRBAC": n.is_multiple_of(4),
            "adminGroupObjectIDs": [stable_guid(&format!("{sub}#admins"))],
            "tenantID": tenant,
        });
    }
    if n % 3 == 2 {
        properties["apiServerAccessProfile"] = json!({
            "enablePrivateCluster": true,
            "privateDNSZone": "system",
            "enablePrivateClusterPublicFQDN": true,
        });
        properties["privateFQDN"] = json!(format!(
            "{dns_prefix}-{hash}.{}.privatelink.{location}.azmk8s.io",
            stable_guid(&format!("{id}#private"))
        ));
    }
    let environment = ["dev", "staging", "production"][n % 3];
    let identity = if n % 5 == 4 {
        let uami = format!(
            "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-identity"
        );
        json!({
            "type": "UserAssigned",
            "userAssignedIdentities": {
                uami: {
                    "principalId": stable_guid(&format!("{id}#uami-principal")),
                    "clientId": stable_guid(&format!("{id}#uami-client")),
                },
            },
        })
    } else {
        json!({
            "type": "SystemAssigned",
            "principalId": stable_guid(&format!("{id}#principal")),
            "tenantId": tenant,
        })
    };
    let mut cluster = json!({
        "id": id,
        "location": location,
        "name": name,
        "tags": {
            "environment": environment,
            "team": format!("team-{}", n % 5),
        },
        "type": "Microsoft.ContainerService/ManagedClusters",
        "eTag": stable_guid(&format!("{id}#etag")),
        "sku": { "name": "Base", "tier": if n.is_multiple_of(2) { "Free" } else { "Standard" } },
        "identity": identity,
        "properties": properties,
    });
    // Every sixth cluster is dual-stack, described by the plural fields
    // only, and runs as a service principal (no managed identity block).
    if n % 6 == 5 {
        let network = &mut cluster["properties"]["networkProfile"];
        let network = network.as_object_mut().unwrap();
        network.remove("podCidr");
        network.remove("serviceCidr");
        network.insert(
            "podCidrs".into(),
            json!(["10.244.0.0/16", "fd12:3456:789a::/64"]),
        );
        network.insert(
            "serviceCidrs".into(),
            json!(["10.0.0.0/16", "fd12:3456:789a:1::/108"]),
        );
        network.insert("ipFamilies".into(), json!(["IPv4", "IPv6"]));
        cluster.as_object_mut().unwrap().remove("identity");
        cluster["properties"]["servicePrincipalProfile"] =
            json!({ "clientId": stable_guid(&format!("{id}#service-principal")) });
    }
    cluster
}

fn upgrades_from(version: &str) -> Vec<Value> {
    VERSIONS
        .iter()
        .position(|v| *v == version)
        .and_then(|p| VERSIONS.get(p + 1))
        .map(|next| vec![json!({ "kubernetesVersion": next })])
        .unwrap_or_default()
}

fn fleet_upgrade_profile(cluster: &Value) -> Value {
    let version = cluster["properties"]["kubernetesVersion"]
        .as_str()
        .unwrap_or_default();
    let pools: Vec<Value> = cluster["properties"]["agentPoolProfiles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "name": p["name"],
                "kubernetesVersion": p["orchestratorVersion"],
                "osType": "Linux",
                "upgrades": upgrades_from(p["orchestratorVersion"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    json!({
        "id": format!("{}/upgradeprofiles/default", cluster["id"].as_str().unwrap_or_default()),
        "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/upgradeprofiles",
        "properties": {
            "controlPlaneProfile": {
                "kubernetesVersion": version,
                "name": "master",
                "osType": "Linux",
                "upgrades": upgrades_from(version),
            },
            "agentPoolProfiles": pools,
        },
    })
}

fn fleet_agent_pools(cluster: &Value) -> Value {
    let id = cluster["id"].as_str().unwrap_or_default();
    let value: Vec<Value> = cluster["properties"]["agentPoolProfiles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut properties = p.clone();
            let name = properties
                .as_object_mut()
                .and_then(|o| o.remove("name"))
                .unwrap_or_default();
            json!({
                "id": format!("{id}/agentPools/{}", name.as_str().unwrap_or_default()),
                "name": name,
                "type": "Microsoft.ContainerService/managedClusters/agentPools",
                "properties": properties,
            })
        })
        .collect();
    json!({ "value": value })
}

// ---------------------------------------------------------------- setup

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it:
/// (CA PEM, server config).
fn certificates() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "Azure stand-in CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server
        .distinguished_name
        .push(DnType::CommonName, "azure stand-in");
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca_pem, Arc::new(config))
}

/// A TLS server on loopback that presents a CA certificate as its own (a
/// misconfiguration clients rightly refuse, even when they trust that CA):
/// (its `https://127.0.0.1:PORT` URL, the CA's PEM). It answers nothing.
pub struct CaAsServer {
    pub url: String,
    pub ca_pem: String,
    _loopback: Loopback,
}

/// A one-thread runtime with a listener on a free loopback port, and its
/// `https://127.0.0.1:PORT` URL; the runtime stops (without waiting) when
/// dropped, so dropping inside another runtime is fine.
struct Loopback {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Loopback {
    fn start() -> (Loopback, tokio::net::TcpListener, String) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        (
            Loopback {
                runtime: Some(runtime),
            },
            listener,
            url,
        )
    }

    fn spawn(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Some(rt) = &self.runtime {
            rt.spawn(future);
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl CaAsServer {
    pub fn start() -> CaAsServer {
        drover::tls::install_crypto_provider();
        let key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        ca.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        ca.distinguished_name
            .push(DnType::CommonName, "a CA, not a server");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = ca.self_signed(&key).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (loopback, listener, url) = Loopback::start();
        loopback.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        CaAsServer {
            url,
            ca_pem: cert.pem(),
            _loopback: loopback,
        }
    }
}

impl AzureStandIn {
    /// Serve Entra and ARM on a free loopback port; writes the CA to
    /// `dir/azure-ca.pem`.
    pub fn start(dir: &Path, options: StandInOptions) -> AzureStandIn {
        drover::tls::install_crypto_provider();
        let (loopback, listener, url) = Loopback::start();
        let (ca_pem, server_config) = certificates();
        let ca_file = dir.join("azure-ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        let arm_requests = Arc::new(AtomicU64::new(0));
        let token_requests = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            fault_hits: options.faults.iter().map(|_| AtomicU64::new(0)).collect(),
            options,
            url: url.clone(),
            examples: Examples::load(),
            tokens: Mutex::new(HashSet::new()),
            arm_requests: arm_requests.clone(),
            token_requests: token_requests.clone(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        loopback.spawn(async move {
            drover::api::serve_tls(listener, server_config, app, std::future::pending())
                .await
                .unwrap();
        });
        AzureStandIn {
            url,
            ca_pem,
            ca_file,
            arm_requests,
            token_requests,
            shared,
            _loopback: loopback,
        }
    }

    /// The id of generated subscription `i` (GUID-shaped, stable).
    pub fn fleet_subscription(i: usize) -> String {
        format!("f1ee7000-0000-4000-8000-{i:012x}")
    }

    /// The subscription id in the example payloads' parameters.
    /// Write a daemon config to `path` whose cloud `standin` is this
    /// stand-in (its CA trusted), granting the aks-discovery plugin
    /// `credential` on `subscriptions` (a TOML array) for GETs under
    /// `/subscriptions`. `azure_extra` lines go under `[azure]`.
    pub fn write_daemon_config(
        &self,
        path: &Path,
        credential: &str,
        subscriptions: &str,
        azure_extra: &str,
    ) {
        std::fs::write(
            path,
            format!(
                "[azure]\nca_file = {:?}\n{azure_extra}\n[azure.clouds.standin]\n\
                 authority_host = {:?}\nresource_manager = {:?}\n\n\
                 [plugins.aks-discovery.azure]\ncredentials = [{credential:?}]\n\
                 subscriptions = {subscriptions}\nmethods = [\"GET\"]\n\
                 paths = [\"/subscriptions\", \"/subscriptions/**\"]\n",
                self.ca_file, self.url, self.url
            ),
        )
        .unwrap();
    }

    /// A daemon (logging to `home/daemon.log` when `log`) whose `standin`
    /// cloud is this stand-in, with the aks-discovery plugin granted
    /// `subscriptions`, and credential `prod` (client secret `secret`, cloud
    /// `cloud`).
    pub fn daemon(
        &self,
        home: &Path,
        subscriptions: &str,
        secret: &str,
        cloud: &str,
        log: bool,
    ) -> super::daemon::Daemon {
        let config = home.join("drover.toml");
        self.write_daemon_config(&config, "prod", subscriptions, "");
        self.daemon_logging(home, &config, secret, cloud, log)
    }

    /// Like [`daemon`](Self::daemon), with a config file of the test's own
    /// (see [`write_daemon_config`](Self::write_daemon_config)); logs to
    /// `home/daemon.log`.
    pub fn daemon_with_config(
        &self,
        home: &Path,
        config: &Path,
        secret: &str,
        cloud: &str,
    ) -> super::daemon::Daemon {
        self.daemon_logging(home, config, secret, cloud, true)
    }

    fn daemon_logging(
        &self,
        home: &Path,
        config: &Path,
        secret: &str,
        cloud: &str,
        log: bool,
    ) -> super::daemon::Daemon {
        let log = log.then(|| home.join("daemon.log"));
        let d = super::daemon::Daemon::start_with(
            home,
            &[
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.to_str().unwrap(),
            ],
            log.as_deref(),
        );
        self.add_credential(&d, "prod", cloud, secret);
        d
    }

    /// Store an `azure-client-secret` credential `name` on `d` for this
    /// stand-in's application, in cloud `cloud`, with client secret `secret`
    /// (read from a file, as an operator would give it).
    pub fn add_credential(&self, d: &super::daemon::Daemon, name: &str, cloud: &str, secret: &str) {
        let secret_file = d.home.join(format!("{name}.secret"));
        std::fs::write(&secret_file, secret).unwrap();
        let o = &self.shared.options;
        let out = d.cli(&[
            "credential",
            "add",
            name,
            "--kind",
            "azure-client-secret",
            "--tenant-id",
            &o.tenant,
            "--client-id",
            &o.client_id,
            "--cloud",
            cloud,
            "--secret-file",
            secret_file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&secret_file).unwrap();
    }

    pub fn example_subscription() -> String {
        example_parameter(&example("ManagedClustersList.json"), "subscriptionId")
    }

    /// An access token ARM accepts, issued outside the token endpoint: what
    /// `az account get-access-token` hands out from the Azure CLI's cache.
    pub fn mint_token(&self) -> String {
        self.shared.mint()
    }

    /// Access tokens the token endpoint has issued so far.
    pub fn issued_tokens(&self) -> usize {
        self.shared.tokens.lock().unwrap().len()
    }
}
