//! `/api/rooms/{id}/attachments` and `/api/attachments/{id}`: uploading files to a room and
//! fetching them back, safely (never rendered as a page of this origin) and in ranges.

use std::ops::Bound;

use poem::http::{header, HeaderValue, StatusCode};
use poem::web::headers::{HeaderMapExt, Range};
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi};
use tokio::io::{AsyncRead, AsyncSeekExt};

use super::error::ApiResult;
use super::rooms::parse_room_id;
use super::security::Auth;
use super::ApiTags;
use crate::app::AppState;
use crate::chat::attachments::Readable;
use crate::error::Error;
use crate::ids::AttachmentId;
use crate::wire::AttachmentView;

/// The body of an upload: the file's bytes as they are, or a `multipart/form-data` form whose
/// `file` part is the file. Read as a stream; never buffered whole.
pub struct Upload {
    /// The client's name for the file: the form part's filename (`?name=` wins).
    filename: Option<String>,
    /// The request's `Content-Length`, when it declares one.
    declared: Option<u64>,
    body: Box<dyn AsyncRead + Send + Unpin>,
}

impl<'a> ApiExtractor<'a> for Upload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let binary = || {
            let mut schema = MetaSchema::new_with_format("string", "binary");
            schema.description = Some("The file's bytes.");
            MetaSchemaRef::Inline(Box::new(schema))
        };
        let mut form = MetaSchema::new("object");
        form.properties = vec![("file", binary())];
        form.required = vec!["file"];
        Some(MetaRequest {
            description: Some(
                "The file, as the raw body (any Content-Type; the type is read from the bytes), \
                 or as a multipart/form-data form with one `file` part.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/octet-stream",
                    schema: binary(),
                },
                MetaMediaType {
                    content_type: "multipart/form-data",
                    schema: MetaSchemaRef::Inline(Box::new(form)),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_form = request
            .content_type()
            .is_some_and(|kind| kind.starts_with("multipart/form-data"));
        let declared = request
            .header(header::CONTENT_LENGTH)
            .and_then(|length| length.parse().ok());
        if !is_form {
            return Ok(Self {
                filename: None,
                declared,
                body: Box::new(body.take()?.into_async_read()),
            });
        }
        let mut form =
            <poem::web::Multipart as poem::FromRequest>::from_request(request, body).await?;
        while let Some(field) = form.next_field().await.map_err(bad_form)? {
            if field.name() == Some("file") {
                return Ok(Self {
                    filename: field.file_name().map(str::to_owned),
                    declared,
                    body: Box::new(field.into_async_read()),
                });
            }
        }
        Err(Error::invalid("invalid_upload", "the form has no `file` part").into())
    }
}

fn bad_form(err: impl std::fmt::Display) -> poem::Error {
    Error::invalid("invalid_upload", format!("the form cannot be read: {err}")).into()
}

#[derive(ApiResponse)]
pub enum Uploaded {
    /// Stored durably; send it with a message (`attachments` of a send) within
    /// `attachments.orphan_ttl` (1 hour) or it is deleted.
    #[oai(status = 201)]
    Created(Json<AttachmentView>),
}

pub struct AttachmentsApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Messages")]
impl AttachmentsApi {
    /// Upload a file to a room you are a member of, to send with a message. The body is the
    /// file (`?name=` names it), or a multipart form with one `file` part (its filename names
    /// it). It is streamed to disk and hashed as it arrives; its type is read from its bytes;
    /// PNG, JPEG, GIF and WebP images get their size and a preview.
    ///
    /// Errors: 400 `upload_interrupted` (the client stopped sending), `invalid_upload`; 404
    /// (not a member); 413 `too_large` (over `attachments.max_bytes`, 25 MiB by default),
    /// `quota_exceeded` (your files would take more than `attachments.user_quota`); 507
    /// `insufficient_storage` (the server's disk is nearly full). Scope: `write`.
    #[oai(path = "/rooms/:id/attachments", method = "post")]
    async fn upload(
        &self,
        auth: Auth,
        id: Path<String>,
        /// The file's name (shown to readers, never used as a path); default: the form's
        /// filename, else "file".
        name: Query<Option<String>>,
        upload: Upload,
    ) -> ApiResult<Uploaded> {
        let room = parse_room_id(&id.0)?;
        // A body that says it is too long is refused before a byte of it is read (a form's
        // own lines are allowed for).
        let max_bytes = self.state.config.attachments.max_bytes;
        if upload
            .declared
            .is_some_and(|length| length > max_bytes + FORM_OVERHEAD)
        {
            return Err(crate::chat::attachments::file_too_large(max_bytes).into());
        }
        let name = name.0.or(upload.filename).unwrap_or_default();
        let meta = self
            .state
            .chat
            .upload(&auth.caller().user, room, &name, upload.body)
            .await?;
        Ok(Uploaded::Created(Json(AttachmentView::from(&meta))))
    }

    /// A file sent to a room you are a member of (or your own upload, not yet sent). PNG, JPEG,
    /// GIF and WebP images are served inline; everything else (HTML and SVG included) as a
    /// download, and always with `Content-Security-Policy: sandbox` and `nosniff`, so a file
    /// never runs as a page of this site. `ETag` (its SHA-256) and single `Range` requests
    /// are supported.
    ///
    /// Errors: 404 for anyone else, and for files of deleted messages or expired rooms.
    /// Scope: `read`.
    #[oai(path = "/attachments/:id", method = "get")]
    async fn download(
        &self,
        auth: Auth,
        id: Path<String>,
        /// `true`: always as a download, images too.
        download: Query<Option<bool>>,
        request: &Request,
    ) -> ApiResult<FileResponse> {
        let readable = self.readable(&auth, &id.0, false)?;
        let inline = !download.0.unwrap_or(false)
            && crate::attachments::inspect::is_inline_image(&readable.meta.content_type);
        Ok(FileResponse::open(readable, inline, request).await?)
    }

    /// A small JPEG preview of an image attachment (see `thumbnail` on the Attachment).
    ///
    /// Errors: 404 as for the file, and for files without a preview. Scope: `read`.
    #[oai(path = "/attachments/:id/thumbnail", method = "get")]
    async fn thumbnail(
        &self,
        auth: Auth,
        id: Path<String>,
        request: &Request,
    ) -> ApiResult<FileResponse> {
        let mut readable = self.readable(&auth, &id.0, true)?;
        readable.meta.content_type = "image/jpeg".into();
        readable.meta.name = format!("{}.jpg", readable.meta.name);
        Ok(FileResponse::open(readable, true, request).await?)
    }
}

impl AttachmentsApi {
    fn readable(&self, auth: &Auth, id: &str, thumbnail: bool) -> Result<Readable, Error> {
        let id: AttachmentId = id.parse().map_err(|_| Error::NotFound("attachment"))?;
        self.state
            .chat
            .readable_attachment(&auth.caller().user, id, thumbnail)
    }
}

/// A stored file as an HTTP answer: whole, one range of it, or "not modified".
pub struct FileResponse(Response);

impl FileResponse {
    async fn open(readable: Readable, inline: bool, request: &Request) -> Result<Self, Error> {
        let mut file = tokio::fs::File::open(&readable.path)
            .await
            .map_err(|_| Error::NotFound("attachment"))?;
        let length = file
            .metadata()
            .await
            .map_err(|err| Error::Storage(err.into()))?
            .len();
        let meta = &readable.meta;
        let etag = format!("\"{}\"", meta.sha256);
        let mut response = Response::builder()
            .header(header::ETAG, etag.as_str())
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "private, max-age=86400")
            .header(header::CONTENT_SECURITY_POLICY, FILE_POLICY)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CONTENT_DISPOSITION, disposition(inline, &meta.name));
        let content_type = if inline {
            meta.content_type.as_str()
        } else {
            "application/octet-stream"
        };
        response = response.content_type(content_type);
        // `If-None-Match` compares weakly (RFC 9110, 13.1.2): `W/"x"` matches `"x"`.
        let not_modified = request.header(header::IF_NONE_MATCH).is_some_and(|tags| {
            tags.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        });
        if not_modified {
            return Ok(Self(response.status(StatusCode::NOT_MODIFIED).finish()));
        }
        let range = request
            .headers()
            .typed_get::<Range>()
            .map(|range| single_range(&range, length));
        let (start, end) = match range {
            None | Some(RangeAnswer::Whole) => (0, length),
            Some(RangeAnswer::Part(start, end)) => (start, end),
            Some(RangeAnswer::Unsatisfiable) => {
                return Ok(Self(
                    response
                        .status(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header(header::CONTENT_RANGE, format!("bytes */{length}"))
                        .finish(),
                ));
            }
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|err| Error::Storage(err.into()))?;
        }
        let body = Body::from_async_read(tokio::io::AsyncReadExt::take(file, end - start));
        if (start, end) != (0, length) {
            response = response.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{length}", end - 1),
            );
        }
        Ok(Self(
            response
                .header(header::CONTENT_LENGTH, end - start)
                .body(body),
        ))
    }
}

/// What a multipart form may add to a file's length: boundaries and part headers.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// A file is never a page of this site: no scripts, no plugins, no forms, its own origin.
const FILE_POLICY: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'";

/// `Content-Disposition` with the name both as plain ASCII (quotes and controls replaced) and
/// RFC 5987-encoded for everything else.
fn disposition(inline: bool, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

enum RangeAnswer {
    Whole,
    /// `[start, end)`.
    Part(u64, u64),
    Unsatisfiable,
}

/// One satisfiable range of a file of `length` bytes; several ranges are answered with the
/// whole file (RFC 9110 lets a server ignore `Range`).
fn single_range(range: &Range, length: u64) -> RangeAnswer {
    let mut ranges = range.satisfiable_ranges(length);
    let Some((from, to)) = ranges.next() else {
        return RangeAnswer::Unsatisfiable;
    };
    if ranges.next().is_some() {
        return RangeAnswer::Whole;
    }
    let start = match from {
        Bound::Included(start) => start,
        Bound::Excluded(start) => start.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match to {
        Bound::Included(last) => last.saturating_add(1).min(length),
        Bound::Excluded(end) => end.min(length),
        Bound::Unbounded => length,
    };
    if start >= end || start >= length {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Part(start, end)
}

impl IntoResponse for FileResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ApiResponse for FileResponse {
    fn meta() -> MetaResponses {
        // Downloads are octet-streams; raster images shown inline (and previews) keep
        // their own type.
        let binary = |content_type| MetaMediaType {
            content_type,
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                "string", "binary",
            ))),
        };
        let kinds = [
            "application/octet-stream",
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
        ];
        let answer = |status, description| MetaResponse {
            description,
            status: Some(status),
            status_range: None,
            content: if status == 304 || status == 416 {
                vec![]
            } else {
                kinds.into_iter().map(binary).collect()
            },
            headers: vec![],
        };
        MetaResponses {
            responses: vec![
                answer(200, "The file (its own Content-Type when inline)."),
                answer(206, "The requested range of it (`Content-Range`)."),
                answer(304, "Unchanged since the `If-None-Match` ETag."),
                answer(416, "The range is outside the file."),
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}
