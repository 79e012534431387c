//! The ACL admin APIs (KIP-140): CreateAcls, DescribeAcls, DeleteAcls, answered as a Kafka broker
//! with no authorizer configured answers them.
//!
//! kmock has no authorizer: every client may do everything, and Metadata and DescribeGroups report
//! every operation as authorized ([`crate::authorized_operations`]). Kafka advertises the three
//! APIs all the same, and its `AclApis` answers them with SECURITY_DISABLED and a message saying no
//! authorizer is configured: DescribeAcls at the top level, CreateAcls once per creation,
//! DeleteAcls once per filter. kmock answers the same, so an admin tool or a test fixture that
//! lists ACLs gets Kafka's answer rather than "not supported by broker".
//!
//! # References
//! - Kafka `AclApis.handleDescribeAcls` / `handleCreateAcls` / `handleDeleteAcls` (the `None`
//!   authorizer branches), `CreateAclsRequest.getErrorResponse`, `DeleteAclsRequest.getErrorResponse`.
//! - KIP-140 (the ACL admin APIs).

use kmock_wire::error_code::SECURITY_DISABLED;
use kmock_wire::kafka_protocol::messages::create_acls_response::AclCreationResult;
use kmock_wire::kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kmock_wire::kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsResponse, RequestKind, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;

/// DescribeAcls's message without an authorizer (Kafka's `AclApis.handleDescribeAcls`).
pub const DESCRIBE_MESSAGE: &str = "No Authorizer is configured on the broker";
/// CreateAcls's and DeleteAcls's message without an authorizer (Kafka's
/// `SecurityDisabledException("No Authorizer is configured.")`).
pub const ALTER_MESSAGE: &str = "No Authorizer is configured.";

/// The answer to an ACL request, or `None` for any other request (the dispatcher closes the
/// connection then: `api_versions::is_supported` lets no other unhandled API through).
pub(crate) fn handle(body: &RequestKind) -> Option<ResponseKind> {
    answer(body, SECURITY_DISABLED, true)
}

/// The response a fault's `error=CODE` sends to an ACL request (`code` in every error field, no
/// message), or `None` for any other request.
pub(crate) fn error_response(body: &RequestKind, code: i16) -> Option<ResponseKind> {
    answer(body, code, false)
}

fn answer(body: &RequestKind, code: i16, with_message: bool) -> Option<ResponseKind> {
    let message = |text: &'static str| with_message.then(|| StrBytes::from_static_str(text));
    Some(match body {
        RequestKind::DescribeAcls(_) => ResponseKind::DescribeAcls(
            DescribeAclsResponse::default()
                .with_error_code(code)
                .with_error_message(message(DESCRIBE_MESSAGE)),
        ),
        RequestKind::CreateAcls(request) => {
            ResponseKind::CreateAcls(create_acls(request, code, message(ALTER_MESSAGE)))
        }
        RequestKind::DeleteAcls(request) => {
            ResponseKind::DeleteAcls(delete_acls(request, code, message(ALTER_MESSAGE)))
        }
        _ => return None,
    })
}

/// One result per creation, in request order.
fn create_acls(
    request: &CreateAclsRequest,
    code: i16,
    message: Option<StrBytes>,
) -> CreateAclsResponse {
    let result = AclCreationResult::default()
        .with_error_code(code)
        .with_error_message(message);
    CreateAclsResponse::default().with_results(vec![result; request.creations.len()])
}

/// One result per filter, in request order, matching nothing.
fn delete_acls(
    request: &DeleteAclsRequest,
    code: i16,
    message: Option<StrBytes>,
) -> DeleteAclsResponse {
    let result = DeleteAclsFilterResult::default()
        .with_error_code(code)
        .with_error_message(message);
    DeleteAclsResponse::default().with_filter_results(vec![result; request.filters.len()])
}

#[cfg(test)]
mod tests {
    use kmock_wire::kafka_protocol::messages::{
        ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    };
    use kmock_wire::{codec_versions, encode_response};

    use super::*;

    /// A fault's `error=CODE` answer carries the code everywhere and encodes at every version.
    #[test]
    fn fault_error_responses_carry_the_code_at_every_version() {
        let creations = CreateAclsRequest::default().with_creations(vec![Default::default(); 2]);
        let filters = DeleteAclsRequest::default().with_filters(vec![Default::default(); 2]);
        let cases = [
            (
                ApiKey::DescribeAcls,
                RequestKind::DescribeAcls(DescribeAclsRequest::default()),
            ),
            (ApiKey::CreateAcls, RequestKind::CreateAcls(creations)),
            (ApiKey::DeleteAcls, RequestKind::DeleteAcls(filters)),
        ];
        for (api_key, request) in cases {
            let response = error_response(&request, 7).expect("an ACL request");
            let codes: Vec<i16> = match &response {
                ResponseKind::DescribeAcls(r) => vec![r.error_code],
                ResponseKind::CreateAcls(r) => r.results.iter().map(|r| r.error_code).collect(),
                ResponseKind::DeleteAcls(r) => {
                    r.filter_results.iter().map(|r| r.error_code).collect()
                }
                other => panic!("{api_key:?}: {other:?}"),
            };
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == 7),
                "{api_key:?}"
            );
            let range = codec_versions(api_key);
            for version in range.min..=range.max {
                encode_response(api_key, version, 1, &response)
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            }
        }
        assert!(handle(&RequestKind::DescribeAcls(DescribeAclsRequest::default())).is_some());
        assert!(error_response(&RequestKind::ApiVersions(Default::default()), 7).is_none());
    }
}
