//! ARM's wire conventions shared by the simulated ARM's routes ([`crate::arm`], [`crate::arm_lists`]):
//! the error body `{"error": {"code", "message"}}` with `x-ms-failure-cause`, the 404 and 405 every
//! route answers alike, and list paging with `nextLink`/`$skiptoken`.

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An ARM error response: `{"error": {"code", "message"}}`.
pub fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut r = (status, Json(json!({"error": {"code": code, "message": message.into()}}))).into_response();
    r.headers_mut().insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
    r
}

/// 404 `ResourceNotFound` for `what` (a resource id or path).
pub fn not_found(what: &str) -> Response {
    arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", format!("The Resource '{what}' was not found."))
}

/// 405 `MethodNotAllowed` for a method the simulator does not serve on a path.
pub fn method_not_allowed(m: &Method) -> Response {
    arm_error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("The simulator does not support {m} here."))
}

/// A list answer `{"value": page, "nextLink"?}`. With a `page_size` (0 counts as none): the `page_size`
/// items after the first `skip`, and, unless that is the last page, an absolute `nextLink`
/// `{list_url}&$skiptoken={next skip}` as ARM's list APIs answer (`list_url` is the list's URL on this
/// ARM host with its `api-version`). Without one: every item on one page.
pub fn paged(items: Vec<Value>, page_size: Option<usize>, skip: usize, list_url: &str) -> Response {
    Json(page_body(items, page_size, skip, list_url)).into_response()
}

/// The body [`paged`] answers.
pub fn page_body(items: Vec<Value>, page_size: Option<usize>, skip: usize, list_url: &str) -> Value {
    let Some(size) = page_size.filter(|n| *n > 0) else {
        return json!({ "value": items });
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
    let mut body = json!({ "value": page });
    let next = skip.saturating_add(size);
    if next < total {
        body["nextLink"] = json!(format!("{list_url}&$skiptoken={next}"));
    }
    body
}

/// A data plane's page of `items` (the Databricks account API's, the Fabric API's): those after the first
/// `skip`, the number the request's `token` query parameter carries (none: 0), at most `page_size` (none or
/// 0: all), and the next page's token unless this is the last page.
pub fn data_plane_page(
    items: Vec<Value>,
    page_size: Option<usize>,
    query: Option<&str>,
    token: &str,
) -> (Vec<Value>, Option<String>) {
    let skip: usize = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == token)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let size = page_size.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let total = items.len();
    let page = items.into_iter().skip(skip).take(size).collect();
    let next = skip.saturating_add(size);
    (page, (next < total).then(|| next.to_string()))
}

/// A request's JSON body, or ARM's 400 `InvalidRequestContent` answer (boxed: an answer is large).
pub fn json_body(body: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content is not valid JSON: {e}"),
        ))
    })
}

/// The answer to a PEC PUT the faults refuse (`FaultPlan::refused_put`).
pub fn refusal(status: u16, code: &str, message: String) -> Response {
    arm_error(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), code, message)
}
