//! `/projects`: the project list (search, status filter, paging) through the
//! API's `list_projects`; a project's page with its documents (`get_project`,
//! `list_documents`) and the upload form; `/projects/new` through
//! `create_project`.

use axum::{
    Form,
    extract::{Path, Query, State},
    response::Response,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Pager, another, href, human_bytes, refused};
use crate::{
    app::AppState,
    config::StorageBackend,
    console::{
        account::when,
        admin::field_message,
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::PageParams,
    projects::{
        documents, handlers,
        model::{DocumentFilter, NewProject, ProjectFilter, ProjectStatus},
    },
    rbac::{Permission, perm},
};

/// Rows per page of the project list and of a project's documents.
const PAGE_SIZE: i64 = 25;

/// The statuses a project can have: (value, label).
const STATUSES: &[(&str, &str)] = &[
    ("active", "Active"),
    ("on_hold", "On hold"),
    ("completed", "Completed"),
    ("archived", "Archived"),
];

fn status(value: &str) -> Option<ProjectStatus> {
    Some(match value {
        "active" => ProjectStatus::Active,
        "on_hold" => ProjectStatus::OnHold,
        "completed" => ProjectStatus::Completed,
        "archived" => ProjectStatus::Archived,
        _ => return None,
    })
}

fn status_label(value: &str) -> &str {
    STATUSES.iter().find(|(v, _)| *v == value).map_or(value, |(_, l)| l)
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

fn choices() -> Vec<Choice> {
    STATUSES.iter().map(|(value, label)| Choice { value, label }).collect()
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    status: String,
    page: Option<i64>,
}

#[derive(Serialize)]
struct ProjectRow {
    id: Uuid,
    name: String,
    status: String,
    status_label: String,
    documents: i64,
    updated: String,
}

#[derive(Serialize)]
struct ListView {
    frame: Frame,
    rows: Vec<ProjectRow>,
    search: String,
    status: String,
    statuses: Vec<Choice>,
    total: i64,
    pager: Pager,
    can_create: bool,
}

pub async fn list_page(
    State(state): State<AppState>,
    me: Console<perm::ProjectsRead>,
    Query(q): Query<ListQuery>,
) -> Response {
    let frame = me.frame("/projects");
    let can_create = me.authz.ctx.has(Permission::ProjectsCreate);
    let filter = ProjectFilter {
        search: Some(q.search.clone()).filter(|s| !s.trim().is_empty()),
        status: status(&q.status),
        sort: Some("-updated_at".into()),
        page: PageParams {
            page: q.page.unwrap_or(1).max(1),
            page_size: PAGE_SIZE,
        },
    };
    let page = match handlers::list_projects(me.authz.into_read(&state.db), ApiQuery(filter)).await {
        Ok(ApiJson(page)) => page,
        Err(e) => return refused(e),
    };
    let pager = Pager::new(page.page, page.total, PAGE_SIZE, |n| {
        href("/projects", &[("search", &q.search), ("status", &q.status)], n)
    });
    let rows = page
        .items
        .into_iter()
        .map(|p| ProjectRow {
            status_label: status_label(&p.status).to_string(),
            id: p.id,
            name: p.name,
            status: p.status,
            documents: p.document_count,
            updated: when(p.updated_at),
        })
        .collect();
    render::ok(
        "tenant_projects.html",
        ListView {
            frame,
            rows,
            search: q.search,
            status: q.status,
            statuses: choices(),
            total: page.total,
            pager,
            can_create,
        },
    )
}

#[derive(Serialize)]
struct NewView {
    frame: Frame,
    name: String,
    description: String,
    status: String,
    statuses: Vec<Choice>,
    error: Option<String>,
}

pub async fn new_page(me: Console<perm::ProjectsCreate>) -> Response {
    render::ok(
        "tenant_project_new.html",
        NewView {
            frame: me.frame("/projects"),
            name: String::new(),
            description: String::new(),
            status: "active".into(),
            statuses: choices(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct NewForm {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: String,
}

pub async fn create_submit(me: Console<perm::ProjectsCreate>, Form(form): Form<NewForm>) -> Response {
    let frame = me.frame("/projects");
    let input = NewProject {
        name: form.name.clone(),
        description: Some(form.description.clone()),
        status: status(&form.status),
    };
    match handlers::create_project(me.authz, ApiJson(input)).await {
        Ok((_, _, ApiJson(project))) => see_other(&format!("/projects/{}?done=created", project.id)),
        Err(e @ (ApiError::Validation(_) | ApiError::Conflict { .. })) => {
            let view = NewView {
                frame,
                name: form.name,
                description: form.description,
                status: form.status,
                statuses: choices(),
                error: Some(field_message(&e)),
            };
            render::page(e.status(), "tenant_project_new.html", view)
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize, Default)]
pub struct ProjectQuery {
    page: Option<i64>,
    done: Option<String>,
}

#[derive(Serialize)]
struct DocumentRow {
    id: Uuid,
    name: String,
    content_type: String,
    status: String,
    size: String,
    uploaded: String,
}

#[derive(Serialize)]
struct ProjectPage {
    frame: Frame,
    id: Uuid,
    name: String,
    description: String,
    status_label: String,
    created: String,
    updated: String,
    /// `None` without documents:read.
    documents: Option<Vec<DocumentRow>>,
    total: i64,
    pager: Option<Pager>,
    can_upload: bool,
    can_download: bool,
    can_delete: bool,
    max_upload: String,
    notice: Option<&'static str>,
}

/// The origin of the object store's signed URLs, which the page's script
/// must be allowed to PUT to (local storage: this origin, already allowed).
async fn upload_origin(state: &AppState) -> Option<String> {
    if state.storage.backend() != StorageBackend::S3 {
        return None;
    }
    let url = state
        .storage
        .presign(
            object_store::signer::Method::PUT,
            "origin-probe",
            std::time::Duration::from_secs(60),
        )
        .await
        .ok()??;
    Some(url.origin().ascii_serialization())
}

pub async fn project_page(
    State(state): State<AppState>,
    me: Console<perm::ProjectsRead>,
    Path(id): Path<Uuid>,
    Query(q): Query<ProjectQuery>,
) -> Response {
    let frame = me.frame("/projects");
    let ctx = me.authz.ctx.clone();
    let project = match handlers::get_project(me.authz.into_read(&state.db), ApiPath(id)).await {
        Ok((_, ApiJson(p))) => p,
        Err(e) => return refused(e),
    };
    let (mut documents, mut total, mut pager) = (None, 0, None);
    if ctx.has(Permission::DocumentsRead) {
        let authz = match another::<perm::DocumentsRead>(&state, &ctx).await {
            Ok(a) => a,
            Err(e) => return render::api_error(e),
        };
        let filter = DocumentFilter {
            project_id: Some(id),
            search: None,
            status: None,
            sort: Some("-created_at".into()),
            page: PageParams {
                page: q.page.unwrap_or(1).max(1),
                page_size: PAGE_SIZE,
            },
        };
        let page = match documents::list_documents(authz, ApiQuery(filter)).await {
            Ok(ApiJson(page)) => page,
            Err(e) => return refused(e),
        };
        total = page.total;
        pager = Some(Pager::new(page.page, page.total, PAGE_SIZE, |n| {
            href(&format!("/projects/{id}"), &[], n)
        }));
        documents = Some(
            page.items
                .into_iter()
                .map(|d| DocumentRow {
                    id: d.id,
                    name: d.name,
                    content_type: d.content_type,
                    size: d.size_bytes.map(human_bytes).unwrap_or_default(),
                    uploaded: d.uploaded_at.map(when).unwrap_or_default(),
                    status: d.status,
                })
                .collect(),
        );
    }
    let view = ProjectPage {
        frame,
        id,
        status_label: status_label(&project.status).to_string(),
        name: project.name,
        description: project.description,
        created: when(project.created_at),
        updated: when(project.updated_at),
        documents,
        total,
        pager,
        can_upload: ctx.has(Permission::DocumentsCreate),
        can_download: ctx.has(Permission::DocumentsDownload),
        can_delete: ctx.has(Permission::DocumentsDelete),
        max_upload: human_bytes(state.config.max_upload_bytes as i64),
        notice: match q.done.as_deref() {
            Some("created") => Some("The project is created."),
            Some("deleted") => Some("The document is deleted."),
            _ => None,
        },
    };
    match upload_origin(&state).await {
        Some(origin) if view.can_upload => render::ok_connecting("tenant_project.html", view, &origin),
        _ => render::ok("tenant_project.html", view),
    }
}
