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
 * - A request's answer is reached through its $edgekey_status slot, which
 *   survives internal redirects (index, try_files, error_page): a request
 *   refused once is not validated again on its error page, and one accepted
 *   is validated again where it lands only when its inputs there differ
 *   (table, permission, env, client address, Authorization, Origin). The
 *   other variables are read from the answer when used.
 * - The table's state (open or not, stale, unavailable) is logged when it
 *   changes, never per request; Authorization is never logged.
 */
#include "ngx_http_edgekey_module.h"


static char *ngx_http_edgekey(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_edgekey_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_edgekey_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_edgekey_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_edgekey_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_edgekey_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


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
