/* Tokens of a .tsl program. Positions are 1-based lines and byte columns (a
 * tab counts one); "\r\n" and "\n" both end a line, a lone '\r' is blank.
 *
 * A token that is not a parenthesis, string or comment runs to the next
 * blank, parenthesis, '"' or ';'. It is a number when it is a finite decimal
 * number strtod reads entirely (`1`, `-2.5`, `1e-3`, `.5`); one that starts
 * like a number (a digit, or a sign or '.' before a digit) but is not one is
 * an error, so `1e400` and `2x` are caught here rather than reported later
 * as unknown names. `true`/`false` are booleans; anything else is a symbol
 * (`-`, `->x`, `set!`). A UTF-8 byte-order mark at the start is skipped. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/front.h"

void tsr__lex_init(tsr__lexer *lx, const char *file, const char *text) {
    lx->file = file;
    /* Editors on Windows may start a UTF-8 file with a byte-order mark; it
     * is not part of the program (and columns start after it). */
    if (!strncmp(text, "\xEF\xBB\xBF", 3)) text += 3;
    lx->p = text;
    lx->line = 1;
    lx->col = 1;
}

static tsr__loc loc_of(const tsr__lexer *lx, int line, int col) {
    return (tsr__loc){.file = lx->file, .line = line, .col = col};
}

static void advance(tsr__lexer *lx) {
    if (*lx->p == '\n') {
        lx->line++;
        lx->col = 1;
    } else {
        lx->col++;
    }
    lx->p++;
}

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_delim(char c) {
    return c == '\0' || is_blank(c) || c == '(' || c == ')' || c == '"' || c == ';';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Skips blanks and comments. */
static void skip_space(tsr__lexer *lx) {
    for (;;) {
        char c = *lx->p;
        if (is_blank(c)) {
            advance(lx);
        } else if (c == ';') {
            while (*lx->p && *lx->p != '\n') advance(lx);
        } else {
            return;
        }
    }
}

/* Names in messages are cut so that one absurd token cannot fill the
 * message buffer. */
#define SHOW_MAX 40

static int lex_string(tsr__lexer *lx, tsr__token *tok) {
    int line = lx->line, col = lx->col;
    advance(lx); /* the opening quote */
    /* The unescaped text is never longer than the source. */
    const char *end = lx->p;
    size_t cap = 1;
    while (*end && *end != '"') {
        if (*end == '\\' && end[1]) end++;
        end++;
        cap++;
    }
    char *buf = malloc(cap);
    if (!buf) return tsr_error(TSR_ERR_NOMEM, "out of memory reading a string");
    size_t n = 0;
    for (;;) {
        char c = *lx->p;
        if (c == '\0') {
            free(buf);
            return tsr__lang_error_at(loc_of(lx, line, col), TSR_ERR_INVALID,
                                      "unterminated string (no closing '\"')");
        }
        if (c == '"') {
            advance(lx);
            break;
        }
        if (c == '\\') {
            int eline = lx->line, ecol = lx->col;
            advance(lx);
            char e = *lx->p;
            char out;
            switch (e) {
            case '"': out = '"'; break;
            case '\\': out = '\\'; break;
            case 'n': out = '\n'; break;
            case 't': out = '\t'; break;
            case '\0':
                free(buf);
                return tsr__lang_error_at(loc_of(lx, line, col), TSR_ERR_INVALID,
                                          "unterminated string (no closing '\"')");
            default: {
                free(buf);
                char shown[8];
                if ((unsigned char)e < 0x20 || (unsigned char)e >= 0x7f)
                    snprintf(shown, sizeof shown, "\\x%02x", (unsigned char)e);
                else
                    snprintf(shown, sizeof shown, "%c", e);
                return tsr__lang_error_at(loc_of(lx, eline, ecol), TSR_ERR_INVALID,
                                          "bad escape '\\%s' in string (allowed: \\\" \\\\ "
                                          "\\n \\t)",
                                          shown);
            }
            }
            buf[n++] = out;
            advance(lx);
            continue;
        }
        buf[n++] = c;
        advance(lx);
    }
    buf[n] = '\0';
    tok->kind = TSR__T_STR;
    tok->text = buf;
    return TSR_OK;
}

/* Does the atom [s, s+len) start like a number? */
static bool looks_numeric(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    if (i < len && s[i] == '.') i++;
    return i < len && is_digit(s[i]);
}

static int lex_atom(tsr__lexer *lx, tsr__token *tok) {
    int line = lx->line, col = lx->col;
    const char *start = lx->p;
    while (!is_delim(*lx->p)) advance(lx);
    size_t len = (size_t)(lx->p - start);

    if (looks_numeric(start, len)) {
        /* strtod would also take hex, "inf" and "nan": only decimal
         * characters are numbers here. */
        bool decimal = true;
        for (size_t i = 0; i < len && decimal; i++) {
            char c = start[i];
            decimal = is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
        }
        char tmp[128];
        char *endp = NULL;
        double x = 0;
        if (decimal && len < sizeof tmp) {
            memcpy(tmp, start, len);
            tmp[len] = '\0';
            errno = 0;
            x = strtod(tmp, &endp);
        }
        if (!decimal || len >= sizeof tmp || endp != tmp + len)
            return tsr__lang_error_at(loc_of(lx, line, col), TSR_ERR_INVALID,
                                      "bad number '%.*s%s'", (int)(len < SHOW_MAX ? len : SHOW_MAX),
                                      start, len > SHOW_MAX ? "..." : "");
        if (!isfinite(x))
            return tsr__lang_error_at(loc_of(lx, line, col), TSR_ERR_INVALID,
                                      "number '%s' is out of range (beyond +-1.8e308)", tmp);
        tok->kind = TSR__T_NUM;
        tok->num = x;
        return TSR_OK;
    }
    if (len == 4 && !memcmp(start, "true", 4)) {
        tok->kind = TSR__T_BOOL;
        tok->num = 1;
        return TSR_OK;
    }
    if (len == 5 && !memcmp(start, "false", 5)) {
        tok->kind = TSR__T_BOOL;
        tok->num = 0;
        return TSR_OK;
    }
    char *text = malloc(len + 1);
    if (!text) return tsr_error(TSR_ERR_NOMEM, "out of memory reading a name");
    memcpy(text, start, len);
    text[len] = '\0';
    tok->kind = TSR__T_SYM;
    tok->text = text;
    return TSR_OK;
}

int tsr__lex_next(tsr__lexer *lx, tsr__token *tok) {
    skip_space(lx);
    *tok = (tsr__token){.kind = TSR__T_EOF, .line = lx->line, .col = lx->col};
    switch (*lx->p) {
    case '\0': return TSR_OK;
    case '(':
        tok->kind = TSR__T_LPAREN;
        advance(lx);
        return TSR_OK;
    case ')':
        tok->kind = TSR__T_RPAREN;
        advance(lx);
        return TSR_OK;
    case '"': return lex_string(lx, tok);
    default: return lex_atom(lx, tok);
    }
}
