//! GitHub's JSON shapes for the objects the simulator serves, with every
//! field GitHub's OpenAPI description marks as required (a test validates
//! them against that description).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::world::{Comment, Commit, Org, Pull, Repo, Review, User};

/// Where links point: the API base (`http://host:port` or `.../api/v3`) and
/// the web base for `html_url`s.
#[derive(Debug, Clone)]
pub struct Links {
    pub api: String,
    pub web: String,
}

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn node_id(kind: &str, id: u64) -> String {
    format!("{kind}_{id:x}")
}

pub fn user(l: &Links, u: &User) -> Value {
    let api = format!("{}/users/{}", l.api, u.login);
    json!({
        "login": u.login, "id": u.id, "node_id": node_id("U", u.id),
        "avatar_url": format!("{}/avatars/{}", l.web, u.id), "gravatar_id": "",
        "url": api, "html_url": format!("{}/{}", l.web, u.login),
        "followers_url": format!("{api}/followers"), "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"), "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"), "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if u.bot { "Bot" } else { "User" }, "site_admin": false,
    })
}

fn org_user(l: &Links, org: &Org) -> Value {
    let mut v = user(l, &User::person(&org.login, org.id));
    v["type"] = json!("Organization");
    v
}

const REPO_URL_FIELDS: [(&str, &str); 38] = [
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
    ("url", ""),
    ("git_url", ""),
];

/// The full repository object (a superset of GitHub's minimal repository).
pub fn repo(l: &Links, org: &Org, r: &Repo) -> Value {
    let api = format!("{}/repos/{}/{}", l.api, org.login, r.name);
    let html = format!("{}/{}/{}", l.web, org.login, r.name);
    let mut m = Map::new();
    for (field, suffix) in REPO_URL_FIELDS {
        m.insert(field.into(), json!(format!("{api}{suffix}")));
    }
    let open_issues = r.pulls.iter().filter(|p| p.closed_at.is_none()).count();
    let extra = json!({
        "id": r.id, "node_id": node_id("R", r.id), "name": r.name,
        "full_name": format!("{}/{}", org.login, r.name), "owner": org_user(l, org),
        "private": false, "html_url": html, "description": null, "fork": r.fork,
        "git_url": format!("git://example.invalid/{}/{}.git", org.login, r.name),
        "ssh_url": format!("git@example.invalid:{}/{}.git", org.login, r.name),
        "clone_url": format!("{html}.git"), "svn_url": html, "mirror_url": null, "homepage": null,
        "language": "Rust", "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0,
        "watchers_count": 0, "size": r.commits.len(), "default_branch": "main",
        "open_issues": open_issues, "open_issues_count": open_issues,
        "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false,
        "has_downloads": true, "archived": r.archived, "disabled": false, "license": null,
        "visibility": "public", "pushed_at": time(r.pushed_at), "created_at": time(r.created_at),
        "updated_at": time(r.updated_at),
    });
    if let Value::Object(extra) = extra {
        m.extend(extra);
    }
    Value::Object(m)
}

fn git_author(c: &Commit) -> Value {
    json!({ "name": c.author_name, "email": c.author_email, "date": time(c.date) })
}

fn git_committer(c: &Commit) -> Value {
    json!({ "name": c.committer_name, "email": c.committer_email, "date": time(c.committed_at) })
}

/// Parent shas: derived from the commit's own sha, one per parent.
fn parents(api: &str, c: &Commit) -> Value {
    Value::Array(
        (0..c.parents)
            .map(|i| {
                let sha = format!("{:0>40}", format!("{}{i}", &c.sha[..c.sha.len().min(38)]));
                json!({ "sha": sha, "url": format!("{api}/commits/{sha}") })
            })
            .collect(),
    )
}

/// A commit as listed by `/repos/{o}/{r}/commits`.
pub fn commit(l: &Links, org: &Org, r: &Repo, c: &Commit) -> Value {
    let api = format!("{}/repos/{}/{}", l.api, org.login, r.name);
    let account = |u: &Option<User>| u.as_ref().map(|u| user(l, u)).unwrap_or(Value::Null);
    json!({
        "url": format!("{api}/commits/{}", c.sha), "sha": c.sha, "node_id": node_id("C", c.committed_at.timestamp() as u64),
        "html_url": format!("{}/{}/{}/commit/{}", l.web, org.login, r.name, c.sha),
        "comments_url": format!("{api}/commits/{}/comments", c.sha),
        "commit": {
            "url": format!("{api}/git/commits/{}", c.sha), "author": git_author(c), "committer": git_committer(c),
            "message": format!("Commit {}", &c.sha[..7]), "comment_count": 0,
            "tree": { "sha": c.sha, "url": format!("{api}/git/trees/{}", c.sha) },
        },
        "author": account(&c.author), "committer": account(&c.committer), "parents": parents(&api, c),
    })
}

/// `/repos/{o}/{r}/commits/{sha}`: the listed commit plus `stats` and `files`.
pub fn commit_detail(l: &Links, org: &Org, r: &Repo, c: &Commit) -> Value {
    let mut v = commit(l, org, r, c);
    v["stats"] = json!({ "additions": c.additions, "deletions": c.deletions, "total": c.additions + c.deletions });
    v["files"] = json!([{
        "sha": c.sha, "filename": "src/lib.rs", "status": "modified",
        "additions": c.additions, "deletions": c.deletions, "changes": c.additions + c.deletions,
        "blob_url": format!("{}/blob", l.web), "raw_url": format!("{}/raw", l.web),
        "contents_url": format!("{}/contents", l.api),
    }]);
    v
}

fn href(url: String) -> Value {
    json!({ "href": url })
}

/// A pull request as listed by `/repos/{o}/{r}/pulls`.
pub fn pull(l: &Links, org: &Org, r: &Repo, p: &Pull) -> Value {
    let api = format!("{}/repos/{}/{}", l.api, org.login, r.name);
    let html = format!("{}/{}/{}/pull/{}", l.web, org.login, r.name, p.number);
    let branch = |name: &str| {
        json!({
            "label": format!("{}:{name}", org.login), "ref": name, "sha": format!("{:040x}", p.id),
            "user": org_user(l, org), "repo": repo(l, org, r),
        })
    };
    let state = if p.closed_at.is_some() {
        "closed"
    } else {
        "open"
    };
    json!({
        "url": format!("{api}/pulls/{}", p.number), "id": p.id, "node_id": node_id("PR", p.id),
        "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{}", p.number), "commits_url": format!("{api}/pulls/{}/commits", p.number),
        "review_comments_url": format!("{api}/pulls/{}/comments", p.number),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{}/comments", p.number),
        "statuses_url": format!("{api}/statuses/{:040x}", p.id),
        "number": p.number, "state": state, "locked": false, "draft": p.draft, "title": p.title, "user": user(l, &p.user),
        "body": null, "labels": [], "milestone": null, "active_lock_reason": null,
        "created_at": time(p.created_at), "updated_at": time(p.updated_at),
        "closed_at": p.closed_at.map(time), "merged_at": p.merged_at.map(time),
        "merge_commit_sha": p.merged_at.map(|_| format!("{:040x}", p.id + 1)),
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": branch(&format!("change-{}", p.number)), "base": branch("main"),
        "_links": {
            "self": href(format!("{api}/pulls/{}", p.number)), "html": href(html.clone()),
            "issue": href(format!("{api}/issues/{}", p.number)),
            "comments": href(format!("{api}/issues/{}/comments", p.number)),
            "review_comments": href(format!("{api}/pulls/{}/comments", p.number)),
            "review_comment": href(format!("{api}/pulls/comments{{/number}}")),
            "commits": href(format!("{api}/pulls/{}/commits", p.number)),
            "statuses": href(format!("{api}/statuses/{:040x}", p.id)),
        },
        "author_association": "MEMBER", "auto_merge": null,
    })
}

pub fn review(l: &Links, org: &Org, r: &Repo, p: &Pull, v: &Review) -> Value {
    let api = format!(
        "{}/repos/{}/{}/pulls/{}",
        l.api, org.login, r.name, p.number
    );
    let html = format!(
        "{}/{}/{}/pull/{}#pullrequestreview-{}",
        l.web, org.login, r.name, p.number, v.id
    );
    json!({
        "id": v.id, "node_id": node_id("PRR", v.id), "user": user(l, &v.user), "body": "",
        "state": v.state, "commit_id": format!("{:040x}", p.id), "html_url": html,
        "pull_request_url": api, "submitted_at": time(v.submitted_at),
        "_links": { "html": href(html), "pull_request": href(api) },
        "author_association": "MEMBER",
    })
}

pub fn comment(l: &Links, org: &Org, r: &Repo, c: &Comment) -> Value {
    let api = format!("{}/repos/{}/{}", l.api, org.login, r.name);
    json!({
        "id": c.id, "node_id": node_id("IC", c.id),
        "url": format!("{api}/issues/comments/{}", c.id),
        "html_url": format!("{}/{}/{}/issues/{}#issuecomment-{}", l.web, org.login, r.name, c.issue_number, c.id),
        "issue_url": format!("{api}/issues/{}", c.issue_number),
        "body": "Looks good.", "user": user(l, &c.user),
        "created_at": time(c.created_at), "updated_at": time(c.updated_at),
        "author_association": "MEMBER",
    })
}
