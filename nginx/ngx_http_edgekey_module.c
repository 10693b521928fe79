/*
 * ngx_http_edgekey_module -- nginx validates API keys in-process against
 * edgekeyd's shared table, through libedgekey's public C API only
 * (edgekey/edgekey.h): no subrequest, no socket, no lock.
 *
 *   load_module modules/ngx_http_edgekey_module.so;
 *   http {
 *     edgekey_table edgekey-in-mum;        # table.name, or a hugetlbfs path
 *     server {
 *       location /v1/chat { edgekey chat:write; proxy_pass ...; }
 *       location /public  { edgekey off; }
 *     }
 *   }
 *
 * Directives (http, server, location; inherited):
 *   edgekey_table NAME;            the table ek_open() maps
 *   edgekey PERMISSION | off;      validate here; PERMISSION may hold
 *                                  variables; "" = any valid key
 *   edgekey_env live | test | any; refuse keys of the other env (wrong_env)
 *   edgekey_client_ip VALUE;       variables allowed; default $remote_addr
 * Variables: $edgekey_status, $edgekey_code, $edgekey_key_id,
 * $edgekey_workspace, $edgekey_role, $edgekey_type, $edgekey_env,
 * $edgekey_expires_at (unix seconds; empty for a key that never expires).
 *
 * Invariants:
 * - Each worker owns one ek_validator per table, opened at worker start
 *   (or later, at most once a second per table, while ek_open fails);
 *   nothing is shared between workers, nothing blocks.
 * - A refusal is answered with libedgekey's own rendering (ek_result_json,
 *   ek_result_challenge): the body and headers edgekeyd's /v1/validate
 *   sends. A matching error_page (or `satisfy any`) gets the bare status,
 *   with the headers set, as nginx's own access modules do.
 * - The variables are stored in the request's variable slots, which survive
 *   internal redirects (error_page): a request refused once is not validated
 *   again on its error page.
 * - The table's state (open or not, stale, unavailable) is logged when it
 *   changes, never per request; Authorization is never logged.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <edgekey/edgekey.h>

enum {
    EDGEKEY_VAR_STATUS,
    EDGEKEY_VAR_CODE,
    EDGEKEY_VAR_KEY_ID,
    EDGEKEY_VAR_WORKSPACE,
    EDGEKEY_VAR_ROLE,
    EDGEKEY_VAR_TYPE,
    EDGEKEY_VAR_ENV,
    EDGEKEY_VAR_EXPIRES_AT,
    EDGEKEY_VAR_COUNT
};

/* What the log last said about a table (logged again only on a change). */
enum {
    EDGEKEY_STATE_OK = 0,
    EDGEKEY_STATE_CLOSED,       /* ek_open failed: 503 keyset_unavailable */
    EDGEKEY_STATE_UNAVAILABLE,  /* answers keyset_unavailable */
    EDGEKEY_STATE_STALE         /* answers keyset_stale */
};

/* One per distinct edgekey_table; the validator is this worker's. */
typedef struct {
    ngx_str_t      name;        /* NUL-terminated */
    ek_validator  *validator;   /* NULL until ek_open succeeds */
    time_t         next_open;   /* no ek_open try before this time */
    int            open_err;    /* ek_open's last error, 0 = none yet */
    int            state;       /* EDGEKEY_STATE_*, as last logged */
} ngx_http_edgekey_table_t;

typedef struct {
    ngx_array_t    tables;      /* ngx_http_edgekey_table_t */
    ngx_int_t      var_index[EDGEKEY_VAR_COUNT];
} ngx_http_edgekey_main_conf_t;

typedef struct {
    ngx_str_t                  table;       /* edgekey_table */
    ngx_int_t                  enable;      /* edgekey: 1, off: 0 */
    ngx_http_complex_value_t  *permission;  /* NULL with "" */
    ngx_uint_t                 env;         /* EK_ENV_NONE (any), _LIVE, _TEST */
    ngx_http_complex_value_t  *client_ip;   /* NULL: $remote_addr */
    ngx_uint_t                 table_index; /* in main conf's tables */
} ngx_http_edgekey_loc_conf_t;


static char *ngx_http_edgekey(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_edgekey_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_edgekey_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_edgekey_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_edgekey_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_edgekey_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_edgekey_init_process(ngx_cycle_t *cycle);
static void ngx_http_edgekey_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_edgekey_envs[] = {
    { ngx_string("any"), EK_ENV_NONE },
    { ngx_string("live"), EK_ENV_LIVE },
    { ngx_string("test"), EK_ENV_TEST },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_edgekey_commands[] = {

    { ngx_string("edgekey_table"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_edgekey_loc_conf_t, table),
      NULL },

    { ngx_string("edgekey"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_edgekey,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("edgekey_env"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_edgekey_loc_conf_t, env),
      &ngx_http_edgekey_envs },

    { ngx_string("edgekey_client_ip"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_edgekey_loc_conf_t, client_ip),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_edgekey_module_ctx = {
    ngx_http_edgekey_preconfiguration,   /* preconfiguration */
    ngx_http_edgekey_postconfiguration,  /* postconfiguration */
    ngx_http_edgekey_create_main_conf,   /* create main configuration */
    NULL,                                /* init main configuration */
    NULL,                                /* create server configuration */
    NULL,                                /* merge server configuration */
    ngx_http_edgekey_create_loc_conf,    /* create location configuration */
    ngx_http_edgekey_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_edgekey_module = {
    NGX_MODULE_V1,
    &ngx_http_edgekey_module_ctx,        /* module context */
    ngx_http_edgekey_commands,           /* module directives */
    NGX_HTTP_MODULE,                     /* module type */
    NULL,                                /* init master */
    NULL,                                /* init module */
    ngx_http_edgekey_init_process,       /* init process */
    NULL,                                /* init thread */
    NULL,                                /* exit thread */
    ngx_http_edgekey_exit_process,       /* exit process */
    NULL,                                /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_edgekey_var_names[EDGEKEY_VAR_COUNT] = {
    ngx_string("edgekey_status"),
    ngx_string("edgekey_code"),
    ngx_string("edgekey_key_id"),
    ngx_string("edgekey_workspace"),
    ngx_string("edgekey_role"),
    ngx_string("edgekey_type"),
    ngx_string("edgekey_env"),
    ngx_string("edgekey_expires_at")
};


/* Table state and worker lifetime */

static void
ngx_http_edgekey_log_state(ngx_http_edgekey_table_t *t, int state)
{
    ngx_uint_t   level;
    const char  *what;

    if (state == t->state) {
        return;
    }

    switch (state) {
    case EDGEKEY_STATE_OK:
        level = NGX_LOG_NOTICE;
        what = "answers again";
        break;
    case EDGEKEY_STATE_STALE:
        level = NGX_LOG_WARN;
        what = "is older than its staleness bound (policy fail_closed): "
               "requests get 503 keyset_stale until edgekeyd reaches its "
               "upstream again";
        break;
    default:
        level = NGX_LOG_WARN;
        what = "answers keyset_unavailable (never loaded, or a record is "
               "being rewritten): requests get 503";
        break;
    }

    ngx_log_error(level, ngx_cycle->log, 0, "edgekey: table \"%V\" %s",
                  &t->name, what);
    t->state = state;
}


/* Opens the worker's validator when it is not open and the last try is a
 * second old or more. Returns 1 when it is open. */
static ngx_int_t
ngx_http_edgekey_ready(ngx_http_edgekey_table_t *t)
{
    int            rc;
    time_t         now;
    ek_validator  *v;

    if (t->validator != NULL) {
        return 1;
    }

    now = ngx_time();
    if (now < t->next_open) {
        return 0;
    }
    t->next_open = now + 1;

    v = NULL;
    rc = ek_open((const char *) t->name.data, &v);

    if (rc == 0) {
        t->validator = v;
        t->open_err = 0;
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "edgekey: table \"%V\" opened", &t->name);
        t->state = EDGEKEY_STATE_OK;
        return 1;
    }

    if (rc != t->open_err) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "edgekey: cannot open table \"%V\": %s; requests get "
                      "503 keyset_unavailable, retrying every second",
                      &t->name, ek_strerror(rc));
        t->open_err = rc;
        t->state = EDGEKEY_STATE_CLOSED;
    }

    return 0;
}


static ngx_int_t
ngx_http_edgekey_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_table_t      *t;
    ngx_http_edgekey_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;  /* cache manager and loader validate nothing */
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_edgekey_module);
    if (mcf == NULL) {
        return NGX_OK;
    }

    t = mcf->tables.elts;
    for (i = 0; i < mcf->tables.nelts; i++) {
        t[i].validator = NULL;
        t[i].next_open = 0;
        (void) ngx_http_edgekey_ready(&t[i]);
    }

    return NGX_OK;
}


static void
ngx_http_edgekey_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_table_t      *t;
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_edgekey_module);
    if (mcf == NULL) {
        return;
    }

    t = mcf->tables.elts;
    for (i = 0; i < mcf->tables.nelts; i++) {
        if (t[i].validator != NULL) {
            ek_close(t[i].validator);
            t[i].validator = NULL;
        }
    }
}


/* The request */

/* `s` NUL-terminated: in `buf` when it fits, else in the request's pool.
 * NULL when out of memory. */
static const char *
ngx_http_edgekey_cstr(ngx_http_request_t *r, ngx_str_t *s, u_char *buf,
    size_t cap)
{
    u_char  *p;

    p = (s->len < cap) ? buf : ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    return (const char *) p;
}


static ngx_table_elt_t *
ngx_http_edgekey_origin(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == sizeof("Origin") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "origin",
                               sizeof("origin") - 1) == 0)
        {
            return &h[i];
        }
    }
}


/* Validates r against the location's table into *res; NGX_ERROR only when
 * out of memory. */
static ngx_int_t
ngx_http_edgekey_validate(ngx_http_request_t *r,
    ngx_http_edgekey_loc_conf_t *lcf, ngx_http_edgekey_table_t *t,
    ek_result *res)
{
    int               state;
    u_char            auth[256], perm[128], ip[NGX_SOCKADDR_STRLEN + 1];
    u_char            origin[512];
    ngx_str_t         s;
    ek_request        q;
    ngx_table_elt_t  *h;

    ngx_memzero(&q, sizeof(ek_request));

    if (!ngx_http_edgekey_ready(t)) {
        ngx_memzero(res, sizeof(ek_result));
        res->code = EK_CODE_KEYSET_UNAVAILABLE;
        res->status = ek_code_status(EK_CODE_KEYSET_UNAVAILABLE);
        return NGX_OK;
    }

    h = r->headers_in.authorization;
    if (h != NULL) {
        q.authorization = ngx_http_edgekey_cstr(r, &h->value, auth,
                                                sizeof(auth));
        if (q.authorization == NULL) {
            return NGX_ERROR;
        }
    }

    if (lcf->permission != NULL) {
        if (lcf->permission->lengths == NULL) {
            /* a constant from the configuration, NUL-terminated there */
            q.permission = (const char *) lcf->permission->value.data;

        } else {
            if (ngx_http_complex_value(r, lcf->permission, &s) != NGX_OK) {
                return NGX_ERROR;
            }
            if (s.len) {
                q.permission = ngx_http_edgekey_cstr(r, &s, perm,
                                                     sizeof(perm));
                if (q.permission == NULL) {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (lcf->client_ip == NULL) {
        s = r->connection->addr_text;  /* $remote_addr, after realip */

    } else if (ngx_http_complex_value(r, lcf->client_ip, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    if (s.len) {
        q.client_ip = ngx_http_edgekey_cstr(r, &s, ip, sizeof(ip));
        if (q.client_ip == NULL) {
            return NGX_ERROR;
        }
    }

    h = ngx_http_edgekey_origin(r);
    if (h != NULL) {
        q.origin = ngx_http_edgekey_cstr(r, &h->value, origin,
                                         sizeof(origin));
        if (q.origin == NULL) {
            return NGX_ERROR;
        }
    }

    if (lcf->env != EK_ENV_NONE) {
        q.env = ek_env_name((int) lcf->env);
    }

    if (ek_validate(t->validator, &q, res) != 0) {
        return NGX_ERROR;  /* only for NULL arguments: cannot happen */
    }

    state = res->code == EK_CODE_KEYSET_STALE ? EDGEKEY_STATE_STALE
            : res->code == EK_CODE_KEYSET_UNAVAILABLE
              ? EDGEKEY_STATE_UNAVAILABLE : EDGEKEY_STATE_OK;
    ngx_http_edgekey_log_state(t, state);

    return NGX_OK;
}


static void
ngx_http_edgekey_set_var(ngx_http_request_t *r,
    ngx_http_edgekey_main_conf_t *mcf, ngx_uint_t var, const char *value)
{
    ngx_http_variable_value_t  *vv;

    vv = &r->variables[mcf->var_index[var]];
    vv->len = ngx_strlen(value);
    vv->valid = 1;
    vv->no_cacheable = 0;
    vv->not_found = 0;
    vv->escape = 0;
    vv->data = (u_char *) value;
}


static ngx_int_t
ngx_http_edgekey_add_header(ngx_http_request_t *r, ngx_str_t *key,
    const char *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value.len = ngx_strlen(value);
    h->value.data = (u_char *) value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (out != NULL) {
        *out = h;
    }
    return NGX_OK;
}


static ngx_int_t
ngx_http_edgekey_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->error_pages == NULL || r->error_page) {
        return 0;
    }

    err_page = clcf->error_pages->elts;
    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if ((ngx_uint_t) err_page[i].status == status) {
            return 1;
        }
    }

    return 0;
}


/* Answers a refusal: edgekeyd's headers and JSON body, or only the status
 * and headers when the location has its own error_page for it. */
static ngx_int_t
ngx_http_edgekey_refuse(ngx_http_request_t *r, ek_result *res)
{
    size_t                     n;
    u_char                    *body;
    ngx_int_t                  rc;
    ngx_uint_t                 status;
    const char                *challenge;
    ngx_http_complex_value_t   cv;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  code_key = ngx_string("X-Edgekey-Code");
    static ngx_str_t  key_id_key = ngx_string("X-Edgekey-Key-Id");
    static ngx_str_t  workspace_key = ngx_string("X-Edgekey-Workspace");
    static ngx_str_t  role_key = ngx_string("X-Edgekey-Role");
    static ngx_str_t  type_key = ngx_string("X-Edgekey-Type");
    static ngx_str_t  env_key = ngx_string("X-Edgekey-Env");
    static ngx_str_t  www_key = ngx_string("WWW-Authenticate");
    static ngx_str_t  retry_key = ngx_string("Retry-After");
    static ngx_str_t  json_type = ngx_string("application/json");

    status = (ngx_uint_t) res->status;

    if (ngx_http_edgekey_add_header(r, &code_key, ek_code_name(res->code),
                                    NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->key_id[0] != '\0'
        && (ngx_http_edgekey_add_header(r, &key_id_key, res->key_id, NULL)
            != NGX_OK
            || ngx_http_edgekey_add_header(r, &workspace_key, res->workspace,
                                           NULL) != NGX_OK
            || ngx_http_edgekey_add_header(r, &role_key, res->role, NULL)
               != NGX_OK
            || ngx_http_edgekey_add_header(r, &type_key,
                                           ek_type_name(res->type), NULL)
               != NGX_OK
            || ngx_http_edgekey_add_header(r, &env_key,
                                           ek_env_name(res->env), NULL)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    challenge = ek_result_challenge(res);
    if (challenge != NULL
        && ngx_http_edgekey_add_header(r, &www_key, challenge,
                                       &r->headers_out.www_authenticate)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_edgekey_add_header(r, &retry_key, "1", NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY
        || ngx_http_edgekey_has_error_page(r, status))
    {
        return (ngx_int_t) status;
    }

    body = ngx_pnalloc(r->pool, EK_RESULT_JSON_MAX);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ek_result_json(res, (char *) body, EK_RESULT_JSON_MAX);

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.data = body;
    cv.value.len = ngx_min(n, EK_RESULT_JSON_MAX - 1);

    rc = ngx_http_send_response(r, status, &json_type, &cv);

    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}


static ngx_int_t
ngx_http_edgekey_handler(ngx_http_request_t *r)
{
    char                          *expires;
    ek_result                     *res;
    ngx_http_edgekey_table_t      *t;
    ngx_http_variable_value_t     *vv;
    ngx_http_edgekey_loc_conf_t   *lcf;
    ngx_http_edgekey_main_conf_t  *mcf;

    static const char  *status_text[] = { "200", "401", "403", "503" };

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_edgekey_module);

    if (lcf->enable != 1) {
        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_edgekey_module);

    /* Refused before an internal redirect: this is the refusal's own
     * error_page, which must not be refused again. */
    vv = &r->variables[mcf->var_index[EDGEKEY_VAR_STATUS]];
    if (vv->valid && !vv->not_found && vv->len == 3 && vv->data[0] != '2') {
        return NGX_DECLINED;
    }

    res = ngx_palloc(r->pool, sizeof(ek_result));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = mcf->tables.elts;
    t = &t[lcf->table_index];

    if (ngx_http_edgekey_validate(r, lcf, t, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_STATUS,
                             status_text[res->status == 200 ? 0
                                         : res->status == 401 ? 1
                                         : res->status == 403 ? 2 : 3]);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_CODE,
                             ek_code_name(res->code));
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_KEY_ID, res->key_id);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_WORKSPACE, res->workspace);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_ROLE, res->role);
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_TYPE,
                             ek_type_name(res->type));
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_ENV, ek_env_name(res->env));

    expires = "";
    if (res->expires_at != 0) {
        expires = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
        if (expires == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf((u_char *) expires, "%L", (int64_t) res->expires_at) = '\0';
    }
    ngx_http_edgekey_set_var(r, mcf, EDGEKEY_VAR_EXPIRES_AT, expires);

    if (res->status == 200) {
        return NGX_OK;
    }

    return ngx_http_edgekey_refuse(r, res);
}


/* A variable not yet set by a validation (a location without edgekey, or
 * before the access phase): not found. */
static ngx_int_t
ngx_http_edgekey_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    v->not_found = 1;
    return NGX_OK;
}


/* Configuration */

static char *
ngx_http_edgekey(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_edgekey_loc_conf_t  *lcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        lcf->enable = 0;
        return NGX_CONF_OK;
    }

    lcf->enable = 1;

    if (value[1].len == 0) {
        return NGX_CONF_OK;  /* any valid key */
    }

    lcf->permission = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (lcf->permission == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = lcf->permission;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_edgekey_preconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_http_variable_t  *var;

    for (i = 0; i < EDGEKEY_VAR_COUNT; i++) {
        var = ngx_http_add_variable(cf, &ngx_http_edgekey_var_names[i], 0);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ngx_http_edgekey_variable;
        var->data = i;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_edgekey_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_edgekey_module);

    for (i = 0; i < EDGEKEY_VAR_COUNT; i++) {
        mcf->var_index[i] = ngx_http_get_variable_index(cf,
                                                &ngx_http_edgekey_var_names[i]);
        if (mcf->var_index[i] == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_edgekey_handler;

    return NGX_OK;
}


static void *
ngx_http_edgekey_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_edgekey_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->tables, cf->pool, 1,
                       sizeof(ngx_http_edgekey_table_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static void *
ngx_http_edgekey_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_edgekey_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_edgekey_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *     lcf->table = { 0, NULL };
     *     lcf->permission = NULL;
     *     lcf->client_ip = NULL;
     */

    lcf->enable = NGX_CONF_UNSET;
    lcf->env = NGX_CONF_UNSET_UINT;
    lcf->table_index = NGX_CONF_UNSET_UINT;

    return lcf;
}


/* The index of the table named `name` in the main conf, added if new. */
static ngx_int_t
ngx_http_edgekey_table_index(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_edgekey_table_t      *t;
    ngx_http_edgekey_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_edgekey_module);

    t = mcf->tables.elts;
    for (i = 0; i < mcf->tables.nelts; i++) {
        if (t[i].name.len == name->len
            && ngx_strncmp(t[i].name.data, name->data, name->len) == 0)
        {
            return (ngx_int_t) i;
        }
    }

    t = ngx_array_push(&mcf->tables);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(t, sizeof(ngx_http_edgekey_table_t));
    t->name.len = name->len;
    t->name.data = ngx_pnalloc(cf->pool, name->len + 1);
    if (t->name.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(t->name.data, name->data, name->len);
    t->name.data[name->len] = '\0';

    return (ngx_int_t) (mcf->tables.nelts - 1);
}


static char *
ngx_http_edgekey_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_edgekey_loc_conf_t  *prev = parent;
    ngx_http_edgekey_loc_conf_t  *conf = child;

    ngx_int_t  index;

    ngx_conf_merge_str_value(conf->table, prev->table, "");

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = (prev->enable == NGX_CONF_UNSET) ? 0 : prev->enable;
        conf->permission = prev->permission;
    }

    ngx_conf_merge_uint_value(conf->env, prev->env, EK_ENV_NONE);

    if (conf->client_ip == NULL) {
        conf->client_ip = prev->client_ip;
    }

    if (conf->enable != 1) {
        return NGX_CONF_OK;
    }

    if (conf->table.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"edgekey\" needs \"edgekey_table\" (the "
                           "table.name of edgekey.yaml) here or in an "
                           "enclosing block");
        return NGX_CONF_ERROR;
    }

    index = ngx_http_edgekey_table_index(cf, &conf->table);
    if (index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    conf->table_index = (ngx_uint_t) index;

    return NGX_CONF_OK;
}
