//! Which stored objects a caller may submit: their own uploads, nothing else.
//!
//! Submitting a document makes the submitter its owner in the index, so a
//! submission is a claim, and a claim must be checked against who uploaded
//! the object. Otherwise anyone who learns a key could take another user's
//! upload before its owner submits it (or a page image the VDR pipeline
//! rendered from it) and search its text as their own.
//!
//! An object is the caller's when
//! - it carries user metadata `owner` (`x-amz-meta-owner`) naming the
//!   caller: whatever issues upload URLs records the uploader there (signed
//!   into a presigned PUT, so the uploader cannot change it); or, when it
//!   carries none,
//! - its key lies under the caller's own prefix, `<user>/...`: Amplify
//!   uploads every file as `<user>/<date>/<uuid>.json`, and the local
//!   gateway writes each token holder's uploads under their prefix only.
//!
//! Keys under the service's own prefixes (rendered page images) are
//! nobody's to submit, whatever their metadata says.

use std::collections::BTreeMap;

use crate::domain::identity::Caller;

/// The user metadata (`x-amz-meta-owner`) that names an object's uploader.
pub const OWNER_METADATA: &str = "owner";

/// Where the VDR pipeline stores rendered pages, beside the documents.
pub const RENDERED_PAGES_PREFIX: &str = "rendered-pages/";

/// Key prefixes the service itself writes under.
pub const SERVICE_PREFIXES: &[&str] = &[RENDERED_PAGES_PREFIX];

/// What a caller's claim on an object comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller uploaded it.
    Own,
    /// The key is under a prefix the service writes (rendered pages).
    ServiceKey,
    /// The object's `owner` metadata names someone else.
    OwnedByAnother,
    /// No `owner` metadata, and the key is outside the caller's prefix.
    OutsidePrefix,
}

impl Claim {
    /// Why the claim is refused, in words the caller can act on; `None`
    /// for [`Claim::Own`].
    pub fn refusal(self, caller: &Caller) -> Option<String> {
        match self {
            Claim::Own => None,
            Claim::ServiceKey => Some("this key belongs to the service, not to an upload".into()),
            Claim::OwnedByAnother => Some("this document belongs to another user".into()),
            Claim::OutsidePrefix => Some(match user_prefix(&caller.user) {
                Some(prefix) => format!(
                    "only your own uploads can be processed: keys under '{prefix}' \
                     or objects whose 'owner' metadata names you"
                ),
                None => "only your own uploads can be processed: objects whose 'owner' \
                         metadata names you"
                    .into(),
            }),
        }
    }
}

/// Whether `key` is under one of the [`SERVICE_PREFIXES`].
pub fn is_service_key(key: &str) -> bool {
    SERVICE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// `<user>/`, the prefix the user's uploads live under; `None` for a user
/// id that cannot be one path segment (empty, or holding a `/`: its prefix
/// would overlap another user's).
pub fn user_prefix(user: &str) -> Option<String> {
    (!user.is_empty() && !user.contains('/')).then(|| format!("{user}/"))
}

/// Whether `key` names an object under `user`'s own prefix.
pub fn under_user_prefix(user: &str, key: &str) -> bool {
    user_prefix(user).is_some_and(|prefix| key.len() > prefix.len() && key.starts_with(&prefix))
}

/// The caller's claim on the object at `key` with user `metadata` (as a
/// HEAD returns it; `None` when the object does not exist).
pub fn claim(caller: &Caller, key: &str, metadata: Option<&BTreeMap<String, String>>) -> Claim {
    if is_service_key(key) {
        return Claim::ServiceKey;
    }
    match metadata.and_then(|m| m.get(OWNER_METADATA)) {
        Some(owner) if *owner == caller.user => Claim::Own,
        Some(_) => Claim::OwnedByAnother,
        None if under_user_prefix(&caller.user, key) => Claim::Own,
        None => Claim::OutsidePrefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(OWNER_METADATA.to_owned(), user.to_owned())])
    }

    #[test]
    fn an_upload_is_its_uploaders_by_metadata_or_prefix() {
        let alice = Caller::new("alice@example.com");
        let none = BTreeMap::new();
        let key = "alice@example.com/2026-12-04/1234.json";
        assert_eq!(claim(&alice, key, Some(&none)), Claim::Own);
        assert_eq!(claim(&alice, key, None), Claim::Own);
        assert_eq!(
            claim(
                &alice,
                "shared/report.pdf",
                Some(&owner("alice@example.com"))
            ),
            Claim::Own
        );
        assert_eq!(
            claim(&alice, "shared/report.pdf", Some(&none)),
            Claim::OutsidePrefix
        );
        // The metadata decides when present, even under the caller's prefix.
        assert_eq!(
            claim(&alice, key, Some(&owner("bob@example.com"))),
            Claim::OwnedByAnother
        );
        // A prefix is a whole path segment.
        assert_eq!(
            claim(&alice, "alice@example.com.evil/x.pdf", None),
            Claim::OutsidePrefix
        );
        assert_eq!(
            claim(&alice, "alice@example.com/", None),
            Claim::OutsidePrefix
        );
    }

    #[test]
    fn service_keys_are_nobodys() {
        let alice = Caller::new("alice");
        let page = "rendered-pages/alice/q3.pdf/page-00001.png";
        assert_eq!(
            claim(&alice, page, Some(&owner("alice"))),
            Claim::ServiceKey
        );
        let pages = Caller::new("rendered-pages");
        assert_eq!(claim(&pages, page, None), Claim::ServiceKey);
        assert!(Claim::ServiceKey.refusal(&alice).is_some());
        assert_eq!(Claim::Own.refusal(&alice), None);
    }

    #[test]
    fn a_user_id_with_a_slash_has_no_prefix() {
        let odd = Caller::new("alice/x");
        assert_eq!(user_prefix(&odd.user), None);
        assert_eq!(claim(&odd, "alice/x/doc.pdf", None), Claim::OutsidePrefix);
        assert_eq!(
            claim(&odd, "alice/x/doc.pdf", Some(&owner("alice/x"))),
            Claim::Own
        );
        assert!(Claim::OutsidePrefix
            .refusal(&odd)
            .is_some_and(|r| !r.contains("under")));
    }
}
