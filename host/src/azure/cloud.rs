//! Azure clouds: where to get tokens (authority host), where ARM is, and the
//! token scope for ARM. The three public clouds are built in, under their
//! canonical names and the aliases people use; others come from
//! `[azure.clouds.<name>]` in the config file.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// Canonical name, e.g. `AzurePublicCloud`.
    pub name: String,
    /// e.g. `https://login.microsoftonline.com`.
    pub authority_host: String,
    /// e.g. `https://management.azure.com` (no trailing `/`).
    pub resource_manager: String,
    /// The token audience for ARM, e.g. `https://management.core.windows.net/`.
    pub audience: String,
}

impl Cloud {
    /// The scope to ask Entra for: `<audience>/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.audience.trim_end_matches('/'))
    }

    /// The azure_identity configuration for this cloud's authority host.
    pub fn configuration(&self) -> CloudConfiguration {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = self.authority_host.clone();
        custom.into()
    }
}

const BUILT_IN: &[(&str, &[&str], &str, &str, &str)] = &[
    (
        "AzurePublicCloud",
        &[
            "azurepubliccloud",
            "azurecloud",
            "public",
            "azure",
            "azure-public",
        ],
        "https://login.microsoftonline.com",
        "https://management.azure.com",
        "https://management.azure.com",
    ),
    (
        "AzureChinaCloud",
        &["azurechinacloud", "azurechina", "china", "azure-china"],
        "https://login.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
    ),
    (
        "AzureUSGovernmentCloud",
        &[
            "azureusgovernmentcloud",
            "azureusgovernment",
            "azuregovernment",
            "usgovernment",
            "usgov",
            "azure-us-government",
        ],
        "https://login.microsoftonline.us",
        "https://management.usgovcloudapi.net",
        "https://management.usgovcloudapi.net",
    ),
];

/// The cloud a credential names (`None`: the public cloud), or an error that
/// lists the known names.
pub fn resolve(name: Option<&str>, custom: &HashMap<String, Cloud>) -> Result<Cloud, String> {
    let wanted = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("AzurePublicCloud");
    if let Some(c) = custom.get(wanted) {
        return Ok(c.clone());
    }
    let lower = wanted.to_ascii_lowercase();
    for (canonical, aliases, authority, arm, audience) in BUILT_IN {
        if canonical.eq_ignore_ascii_case(wanted) || aliases.contains(&lower.as_str()) {
            return Ok(Cloud {
                name: canonical.to_string(),
                authority_host: authority.to_string(),
                resource_manager: arm.to_string(),
                audience: audience.to_string(),
            });
        }
    }
    let mut known: Vec<String> = BUILT_IN.iter().map(|b| b.0.to_string()).collect();
    let mut customs: Vec<&String> = custom.keys().collect();
    customs.sort();
    known.extend(customs.into_iter().cloned());
    Err(format!(
        "unknown Azure cloud {wanted:?}: use one of {} (aliases such as AzureCloud, china and \
         usgov work too), or define it under [azure.clouds.{wanted}] in the config file",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_and_aliases_resolve() {
        let none = HashMap::new();
        assert_eq!(resolve(None, &none).unwrap().name, "AzurePublicCloud");
        assert_eq!(
            resolve(Some("AzureCloud"), &none).unwrap().name,
            "AzurePublicCloud"
        );
        let cn = resolve(Some("china"), &none).unwrap();
        assert_eq!(cn.resource_manager, "https://management.chinacloudapi.cn");
        assert_eq!(cn.scope(), "https://management.chinacloudapi.cn/.default");
        let gov = resolve(Some("AzureUSGovernment"), &none).unwrap();
        assert_eq!(gov.authority_host, "https://login.microsoftonline.us");
        let e = resolve(Some("Mars"), &none).unwrap_err();
        assert!(
            e.contains("AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud"),
            "{e}"
        );
        let mut custom = HashMap::new();
        custom.insert(
            "stack".to_string(),
            Cloud {
                name: "stack".into(),
                authority_host: "https://login.stack.local".into(),
                resource_manager: "https://management.stack.local".into(),
                audience: "https://management.stack.local".into(),
            },
        );
        assert_eq!(resolve(Some("stack"), &custom).unwrap().name, "stack");
        assert!(
            resolve(Some("Mars"), &custom)
                .unwrap_err()
                .contains("stack")
        );
    }
}
