//! HTTP calls as steps: a request made from the step's input, the JSON answer decoded
//! as its output.
//!
//! [`post`], [`put`] and [`get`] call one URL (`post` and `put` send the input as the
//! JSON body); [`call`] makes any [`HttpRequest`] from the input. Every request carries
//! the step's [idempotency key](waypost_core::StepContext::idempotency_key) as an
//! `Idempotency-Key` header (the same for every run of an attempt, also after a crash),
//! and the secret headers of its [`HttpConfig`]. A status that is not 2xx fails the step
//! with a name that retry and catch match (`Http.404`, `Http.503`); see [`error`] for
//! every name. A `Retry-After` (whole seconds, or an HTTP date read against the step's
//! clock) sets the delay of the next retry.
//!
//! Dropping the step's future (a waypost timeout fired, the execution was cancelled or
//! lost its lease) drops the request: its connection is closed, nothing goes on in the
//! background.
//!
//! # Secrets
//!
//! A token belongs in [`HttpConfig::builder().secret_headers(..)`](HttpConfig), as a
//! [`Secret`]: the configuration is part of the step, not of its input, so it is never
//! checkpointed, and a `Secret` prints as `[redacted]` wherever it is printed or
//! serialized. Never put one in the input or the URL: inputs and error messages (which
//! quote the method and URL) are stored in the history.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use waypost::prelude::*;
//! use waypost::tasks::{http, HttpConfig, Secret};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Charge { cents: u64 }
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Receipt { id: String }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = HttpConfig::builder()
//!     .timeout(Duration::from_secs(10))
//!     .secret_headers([("Authorization", Secret::from_env("PAYMENTS_TOKEN")?)])
//!     .build();
//! let charge = http::post::<Charge, Receipt>("charge", "https://payments.example/charges")
//!     .config(config)
//!     .retry(RetryPolicy::builder().errors(["Http.429", "Http.503", "Http.ConnectionFailed"]).build());
//! let wf = Workflow::new("pay", 1, charge);
//! assert_eq!(
//!     waypost::export::asl(wf.graph())["States"]["charge"]["Resource"],
//!     "waypost:http:POST"
//! );
//! # Ok(()) }
//! ```

pub mod error;
mod secret;

pub use secret::{REDACTED, Secret, SecretError};

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use serde::Serialize;
use typed_builder::TypedBuilder;
use waypost_core::graph::{Describe, NodeKind, RESOURCE};
use waypost_core::task::run_task;
use waypost_core::{Context, Error, Payload, Step, StepContext};

/// One HTTP request, made by an [`HttpStep`] from its input.
///
/// # Examples
///
/// ```
/// use waypost::tasks::HttpRequest;
///
/// let request = HttpRequest::post("http://127.0.0.1:8080/orders")
///     .header("X-Tenant", "acme")
///     .json(&serde_json::json!({ "sku": "A-1" }))
///     .unwrap();
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.body(), Some(&br#"{"sku":"A-1"}"#[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A request with this method (`"GET"`, `"PATCH"`, …) to `url`, without a body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` to `url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }

    /// A `DELETE` of `url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// Adds a header. Its value is not secret: it may appear in error messages; secret
    /// values go in [`HttpConfig::secret_headers`](HttpConfig).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets `body` as the JSON body (and `Content-Type: application/json`).
    ///
    /// # Errors
    ///
    /// A terminal `Http.InvalidRequest` when `body` cannot be written as JSON.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::terminal(
                error::INVALID_REQUEST,
                format!("the body of {} {} is not JSON: {e}", self.method, self.url),
            )
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JSON body, if any.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }
}

/// The settings of an [`HttpStep`]: part of the step, not of its input, so none of it
/// is checkpointed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::tasks::{HttpConfig, Secret};
///
/// let config = HttpConfig::builder()
///     .timeout(Duration::from_secs(5))
///     .secret_headers([("Authorization", Secret::new("Bearer abc"))])
///     .build();
/// assert!(!format!("{config:?}").contains("abc"));
/// ```
#[derive(Clone, Debug, TypedBuilder)]
pub struct HttpConfig {
    /// The longest a call may take, from connecting to the end of the answer's body;
    /// default 30 s. Past it the step fails with `Http.Timeout`.
    #[builder(default = Duration::from_secs(30))]
    timeout: Duration,
    /// Headers sent with every request whose values are [`Secret`]s (a token read from
    /// the environment); default none. They are marked sensitive in the request and
    /// print as `[redacted]`.
    #[builder(
        default,
        setter(
            fn transform<K: Into<String>, L: IntoIterator<Item = (K, Secret)>>(headers: L) -> Vec<(String, Secret)> {
                headers.into_iter().map(|(k, v)| (k.into(), v)).collect()
            }
        )
    )]
    secret_headers: Vec<(String, Secret)>,
    /// Whether requests carry the step's idempotency key as `Idempotency-Key`; default
    /// true.
    #[builder(default = true)]
    idempotency_key: bool,
    /// The longest answer body the step reads, in bytes; default 16 MiB. A longer one
    /// fails the step with `Http.ResponseTooLarge` as soon as it passes the limit (a
    /// `Content-Length` over it, before reading any), so a runaway answer cannot fill
    /// the worker's memory.
    #[builder(default = 16 * 1024 * 1024)]
    max_response: usize,
    /// The client to send requests with (to share its connection pool, or set proxies
    /// and certificates); default one client shared by every HTTP step, with rustls.
    /// The default client follows up to 10 redirects; for a step with secret headers,
    /// only those within the request's origin (scheme, host and port): a redirect to
    /// another origin ends the step with the redirect's status, so the secrets never
    /// reach another host. A client of your own follows its own redirect policy.
    #[builder(default, setter(strip_option))]
    client: Option<reqwest::Client>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig::builder().build()
    }
}

/// The client of every HTTP step without one of its own; with `secrets`, the one
/// that follows redirects only within the request's origin.
fn shared_client(secrets: bool) -> Result<reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    static GUARDED: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    let (client, policy) = if secrets {
        (&GUARDED, reqwest::redirect::Policy::custom(same_origin))
    } else {
        (&CLIENT, reqwest::redirect::Policy::default())
    };
    client
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(policy)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| {
            Error::terminal(
                error::INVALID_REQUEST,
                format!("no HTTP client could be made: {e}"),
            )
        })
}

/// The redirect policy of a step with secret headers: reqwest removes only the
/// standard credential headers (`Authorization`, `Cookie`) on a redirect to another
/// host, not a secret under a name of the user's own (`X-Api-Key`), so such a
/// redirect is not followed at all.
fn same_origin(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    const MAX_REDIRECTS: usize = 10;
    let Some(first) = attempt.previous().first() else {
        return attempt.stop();
    };
    if attempt.url().origin() != first.origin() {
        attempt.stop()
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error("too many redirects")
    } else {
        attempt.follow()
    }
}

/// A step that makes an HTTP call; returned by [`call`], [`get`], [`post`] and [`put`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct HttpStep<I, O, F> {
    name: String,
    resource: String,
    make: F,
    config: Arc<HttpConfig>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F> HttpStep<I, O, F> {
    fn new(name: impl Into<String>, resource: String, make: F) -> Self {
        HttpStep {
            name: name.into(),
            resource,
            make,
            config: Arc::new(HttpConfig::default()),
            _types: PhantomData,
        }
    }

    /// Uses `config` (timeout, secret headers, client) instead of the defaults.
    pub fn config(mut self, config: HttpConfig) -> Self {
        self.config = Arc::new(config);
        self
    }
}

/// A step named `name` that sends the request `make` builds from its input, and
/// decodes the JSON answer as `O` (an empty body as `null`, so `O = ()` fits an answer
/// without one). Its graph resource is `waypost:http`.
///
/// # Examples
///
/// ```no_run
/// use waypost::prelude::*;
/// use waypost::tasks::{http, HttpRequest};
///
/// let lookup = http::call("lookup", |id: u64| {
///     Ok(HttpRequest::get(format!("http://127.0.0.1:8080/customers/{id}")))
/// });
/// let wf = Workflow::new("lookup", 1, lookup.then(pass("name", |c: serde_json::Value| c["name"].to_string())));
/// # let _ = wf;
/// ```
pub fn call<I, O>(
    name: impl Into<String>,
    make: impl Fn(I) -> Result<HttpRequest, Error> + Send + Sync + 'static,
) -> HttpStep<I, O, impl Fn(I) -> Result<HttpRequest, Error> + Send + Sync + 'static>
where
    I: Payload,
    O: Payload,
{
    HttpStep::new(name, "waypost:http".to_owned(), make)
}

/// A step named `name` that `GET`s `url` and decodes the JSON answer as `O`; its input
/// is `()`. Its graph resource is `waypost:http:GET`.
pub fn get<O: Payload>(
    name: impl Into<String>,
    url: impl Into<String>,
) -> HttpStep<(), O, impl Fn(()) -> Result<HttpRequest, Error> + Send + Sync + 'static> {
    let url = url.into();
    HttpStep::new(name, "waypost:http:GET".to_owned(), move |()| {
        Ok(HttpRequest::get(url.clone()))
    })
}

/// A step named `name` that `POST`s its input as JSON to `url` and decodes the JSON
/// answer as `O`. Its graph resource is `waypost:http:POST`.
pub fn post<I: Payload, O: Payload>(
    name: impl Into<String>,
    url: impl Into<String>,
) -> HttpStep<I, O, impl Fn(I) -> Result<HttpRequest, Error> + Send + Sync + 'static> {
    let url = url.into();
    HttpStep::new(name, "waypost:http:POST".to_owned(), move |input: I| {
        HttpRequest::post(url.clone()).json(&input)
    })
}

/// A step named `name` that `PUT`s its input as JSON to `url` and decodes the JSON
/// answer as `O`. Its graph resource is `waypost:http:PUT`.
pub fn put<I: Payload, O: Payload>(
    name: impl Into<String>,
    url: impl Into<String>,
) -> HttpStep<I, O, impl Fn(I) -> Result<HttpRequest, Error> + Send + Sync + 'static> {
    let url = url.into();
    HttpStep::new(name, "waypost:http:PUT".to_owned(), move |input: I| {
        HttpRequest::put(url.clone()).json(&input)
    })
}

impl<I, O, F> HttpStep<I, O, F>
where
    O: Payload,
{
    /// Sends `request` and decodes its answer.
    async fn send(&self, scx: &StepContext, request: HttpRequest) -> Result<O, Error> {
        let what = format!("{} {}", request.method, request.url);
        let invalid = |message: String| Error::terminal(error::INVALID_REQUEST, message);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| invalid(format!("{what}: `{}` is not a method", request.method)))?;
        // Checked here, to say which part is wrong: reqwest's own error is only
        // "builder error".
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| invalid(format!("{what}: `{}` is not a URL: {e}", request.url)))?;
        let header_name = |name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("{what}: `{name}` is not a header name")))
        };
        let secrets = !self.config.secret_headers.is_empty();
        let client = match &self.config.client {
            Some(client) => client.clone(),
            None => shared_client(secrets)?,
        };
        let mut builder = client.request(method, url).timeout(self.config.timeout);
        for (name, value) in &request.headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "{what}: the value of header `{name}` is not a valid header value"
                ))
            })?;
            builder = builder.header(header_name(name)?, value);
        }
        if self.config.idempotency_key {
            builder = builder.header("Idempotency-Key", scx.idempotency_key());
        }
        for (name, secret) in &self.config.secret_headers {
            // The message names the header, never its value.
            let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
                invalid(format!(
                    "{what}: the value of secret header `{name}` is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            builder = builder.header(header_name(name)?, value);
        }
        if let Some(body) = request.body {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| error::transport_error(&what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response, self.config.max_response, &what).await?;
        if !status.is_success() {
            let now = scx.host().now();
            if secrets
                && status.is_redirection()
                && let Some(location) = headers.get(LOCATION)
            {
                return Err(error::cross_origin_redirect(&what, status, location));
            }
            return Err(error::status_error(&what, status, &headers, &body, now));
        }
        let json: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(json).map_err(|e| {
            Error::new(
                error::BAD_RESPONSE,
                format!(
                    "{what} answered {status} with a body that is not a `{}`: {e}",
                    std::any::type_name::<O>()
                ),
            )
        })
    }
}

/// The body of `response`, failing with `Http.ResponseTooLarge` once it is longer
/// than `limit` bytes (at once when its `Content-Length` says so).
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let too_large = || {
        Error::new(
            error::RESPONSE_TOO_LARGE,
            format!(
                "{what} answered with a body longer than {limit} bytes, the step's limit \
                 (`HttpConfig::max_response`)"
            ),
        )
    };
    let declared = response.content_length().unwrap_or(0);
    if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| error::transport_error(what, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<I, O, F> Step for HttpStep<I, O, F>
where
    I: Payload,
    O: Payload,
    F: Fn(I) -> Result<HttpRequest, Error> + Send + Sync + 'static,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        run_task(cx, &self.name, input, |scx, input| async move {
            let request = (self.make)(input)?;
            self.send(&scx, request).await
        })
        .await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Task, &self.name)
            .detail(RESOURCE, &self.resource);
    }
}

impl<I, O, F> fmt::Debug for HttpStep<I, O, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStep")
            .field("name", &self.name)
            .field("resource", &self.resource)
            .field("config", &self.config)
            .field("make", &std::any::type_name::<F>())
            .finish()
    }
}
