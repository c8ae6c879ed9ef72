/* The language's front end: lexer, parser and resolver (no MPI). Valid
 * programs give the expected tree; every error gives its exact message at
 * FILE:LINE:COL and its status. */
#include "harness.h"
#include "lang/front.h"

#define FILE_NAME "t.tsl"

/* ---------------- helpers ---------------- */

/* The tree as text: lists in parentheses, strings re-escaped in quotes,
 * numbers as %.17g, booleans true/false. */
static void show(const tsr__node *n, char *buf, size_t size, size_t *len) {
#define PUT(...) (*len += (size_t)snprintf(buf + *len, *len < size ? size - *len : 0, __VA_ARGS__))
    switch (n->kind) {
    case TSR__N_NUM: PUT("%.17g", n->num); break;
    case TSR__N_BOOL: PUT("%s", n->num != 0 ? "true" : "false"); break;
    case TSR__N_SYM: PUT("%s", n->text); break;
    case TSR__N_STR:
        PUT("\"");
        for (const char *p = n->text; *p; p++) {
            if (*p == '"' || *p == '\\') PUT("\\%c", *p);
            else if (*p == '\n') PUT("\\n");
            else if (*p == '\t') PUT("\\t");
            else PUT("%c", *p);
        }
        PUT("\"");
        break;
    default:
        PUT("(");
        for (int i = 0; i < n->nkids; i++) {
            if (i) PUT(" ");
            show(n->kids[i], buf, size, len);
        }
        PUT(")");
    }
#undef PUT
}

static char *tree_text(const tsr__node *n) {
    static char buf[8192];
    size_t len = 0;
    show(n, buf, sizeof buf, &len);
    return buf;
}

static tsr__node *parse_ok(const char *src) {
    tsr__node *top = NULL;
    int rc = tsr__parse(FILE_NAME, src, &top);
    if (rc != TSR_OK) TEST_FAIL("parse of <<%.200s>> failed: %.500s", src, tsr_error_message());
    ASSERT_TRUE(top != NULL);
    return top;
}

/* Parses src and checks the tree prints as want (the top node's list). */
static void expect_tree(const char *src, const char *want) {
    tsr__node *top = parse_ok(src);
    const char *got = tree_text(top);
    if (strcmp(got, want)) TEST_FAIL("<<%.200s>> parsed as %.300s, expected %.300s", src, got, want);
    tsr__node_free(top);
}

/* Parse and resolve must succeed; returns the tree (caller frees). */
static tsr__node *resolve_ok(const char *src) {
    tsr__node *top = parse_ok(src);
    int rc = tsr__resolve(top);
    if (rc != TSR_OK) TEST_FAIL("resolve of <<%.200s>> failed: %.500s", src, tsr_error_message());
    return top;
}

static void expect_valid(const char *src) { tsr__node_free(resolve_ok(src)); }

/* Parsing or resolving src fails with exactly this status and message. */
static void expect_error(const char *src, int status, const char *msg) {
    tsr__node *top = NULL;
    tsr_error_clear();
    int rc = tsr__parse(FILE_NAME, src, &top);
    if (rc == TSR_OK) {
        ASSERT_TRUE(top != NULL);
        rc = tsr__resolve(top);
        tsr__node_free(top);
    } else {
        ASSERT_TRUE(top == NULL);
    }
    if (rc == TSR_OK) TEST_FAIL("<<%.200s>> was accepted; expected: %.500s", src, msg);
    if (rc != status || strcmp(tsr_error_message(), msg))
        TEST_FAIL("<<%.200s>>\n  gave   %s: %.300s\n  wanted %s: %.300s", src, tsr_status_string(rc),
                  tsr_error_message(), tsr_status_string(status), msg);
}

#define INVALID TSR_ERR_INVALID
#define NOTFOUND TSR_ERR_NOT_FOUND

static void expect_loc(const tsr__node *n, int line, int col) {
    if (n->loc.line != line || n->loc.col != col)
        TEST_FAIL("node at %d:%d, expected %d:%d", n->loc.line, n->loc.col, line, col);
    ASSERT_TRUE(!strcmp(n->loc.file, FILE_NAME));
}

/* ---------------- lexer and parser ---------------- */

static void test_atoms(void) {
    expect_tree("", "()");
    expect_tree("  ; only a comment\n\n", "()");
    expect_tree("(define x 1)", "((define x 1))");
    expect_tree("1 -2.5 1e-3 .5 -.5 +3 1E2 007", "(1 -2.5 0.001 0.5 -0.5 3 100 7)");
    expect_tree("- -> ->x set! <= a.b x1 +foo", "(- -> ->x set! <= a.b x1 +foo)");
    expect_tree("inf nan infinity", "(inf nan infinity)"); /* symbols, not numbers */
    expect_tree("true false truex", "(true false truex)");
    tsr__node *t = parse_ok("true false truex");
    ASSERT_EQ(t->kids[0]->kind, TSR__N_BOOL);
    ASSERT_EQ(t->kids[1]->kind, TSR__N_BOOL);
    ASSERT_EQ(t->kids[2]->kind, TSR__N_SYM);
    ASSERT_EQ(t->kids[0]->num, 1);
    ASSERT_EQ(t->kids[1]->num, 0);
    tsr__node_free(t);
    /* Huge and tiny numbers. */
    t = parse_ok("1e308 123456789012345678901234567890 1e-400 -0");
    ASSERT_EQ(t->kids[0]->kind, TSR__N_NUM);
    ASSERT_TRUE(t->kids[0]->num == 1e308);
    ASSERT_TRUE(t->kids[1]->num == 123456789012345678901234567890.0);
    ASSERT_TRUE(t->kids[2]->num == 0);
    ASSERT_TRUE(t->kids[3]->num == 0);
    tsr__node_free(t);
    expect_error("(print 1e400)", INVALID,
                 "t.tsl:1:8: number '1e400' is out of range (beyond +-1.8e308)");
    expect_error("\n  -1e999", INVALID, "t.tsl:2:3: number '-1e999' is out of range (beyond +-1.8e308)");
    expect_error("(f 2x)", INVALID, "t.tsl:1:4: bad number '2x'");
    expect_error("1.2.3", INVALID, "t.tsl:1:1: bad number '1.2.3'");
    expect_error("0x10", INVALID, "t.tsl:1:1: bad number '0x10'");
    expect_error("(+ 1e 2)", INVALID, "t.tsl:1:4: bad number '1e'");
    expect_error("-.5.", INVALID, "t.tsl:1:1: bad number '-.5.'");
    /* Parentheses and strings end atoms. */
    expect_tree("(f)(g)", "((f) (g))");
    expect_tree("a\"s\"b", "(a \"s\" b)");
    expect_tree("(a (b (c)) d ())", "((a (b (c)) d ()))");
}

static void test_strings(void) {
    tsr__node *t = parse_ok("\"a\\\"b\\\\c\\nd\\te\" \"\" \"; not a comment (\"");
    ASSERT_EQ(t->nkids, 3);
    ASSERT_EQ(t->kids[0]->kind, TSR__N_STR);
    ASSERT_TRUE(!strcmp(t->kids[0]->text, "a\"b\\c\nd\te"));
    ASSERT_TRUE(!strcmp(t->kids[1]->text, ""));
    ASSERT_TRUE(!strcmp(t->kids[2]->text, "; not a comment ("));
    tsr__node_free(t);
    /* A string may span lines; positions after it follow. */
    t = parse_ok("(print \"two\nlines\" x)");
    ASSERT_TRUE(!strcmp(t->kids[0]->kids[1]->text, "two\nlines"));
    expect_loc(t->kids[0]->kids[2], 2, 8);
    tsr__node_free(t);
    expect_error("(print \"abc)", INVALID, "t.tsl:1:8: unterminated string (no closing '\"')");
    expect_error("(print \"abc\\", INVALID, "t.tsl:1:8: unterminated string (no closing '\"')");
    expect_error("(print\n  \"a\\qb\")", INVALID,
                 "t.tsl:2:5: bad escape '\\q' in string (allowed: \\\" \\\\ \\n \\t)");
    expect_error("\"\\\x01\"", INVALID,
                 "t.tsl:1:2: bad escape '\\\\x01' in string (allowed: \\\" \\\\ \\n \\t)");
}

static void test_positions(void) {
    tsr__node *t = parse_ok("(define x 1)\n  (f\tx \"s\")  ; c\n;(\n(g)");
    expect_loc(t, 1, 1);
    ASSERT_EQ(t->nkids, 3);
    expect_loc(t->kids[0], 1, 1);
    expect_loc(t->kids[0]->kids[1], 1, 9);
    expect_loc(t->kids[0]->kids[2], 1, 11);
    expect_loc(t->kids[1], 2, 3);
    expect_loc(t->kids[1]->kids[1], 2, 6); /* a tab counts one column */
    expect_loc(t->kids[1]->kids[2], 2, 8);
    expect_loc(t->kids[2], 4, 1);
    ASSERT_EQ(t->kids[0]->builtin, -1);
    ASSERT_EQ(t->kids[0]->special, TSR__SF_NONE);
    tsr__node_free(t);
    /* CRLF line endings count as one line break. */
    t = parse_ok("(a\r\n  b)\r\n(c \"x\r\ny\")\r\n");
    expect_loc(t->kids[0]->kids[1], 2, 3);
    expect_loc(t->kids[1], 3, 1);
    expect_loc(t->kids[1]->kids[1], 3, 4);
    ASSERT_TRUE(!strcmp(t->kids[1]->kids[1]->text, "x\r\ny")); /* strings keep bytes */
    tsr__node_free(t);
    t = parse_ok("\xEF\xBB\xBF(a b)");
    expect_loc(t->kids[0], 1, 1);
    expect_loc(t->kids[0]->kids[1], 1, 4);
    tsr__node_free(t);
    expect_error("(a\r\n\r\n  b))", INVALID, "t.tsl:3:5: unexpected ')' (no '(' is open here)");
}

static void test_parens(void) {
    expect_error("(define x\n  (+ 1 2)", INVALID, "t.tsl:1:1: '(' is never closed");
    expect_error("(a (b", INVALID, "t.tsl:1:4: '(' is never closed");
    expect_error("(define (f x)\n  (g x)\n\n(define y 2)\n", INVALID,
                 "t.tsl:1:1: '(' is never closed");
    expect_error("(a))", INVALID, "t.tsl:1:4: unexpected ')' (no '(' is open here)");
    expect_error(")", INVALID, "t.tsl:1:1: unexpected ')' (no '(' is open here)");
    expect_error("(a ; )\n", INVALID, "t.tsl:1:1: '(' is never closed");
    expect_error("(a \")\"", INVALID, "t.tsl:1:1: '(' is never closed");
}

/* Deep nesting: the limit is an error, never a stack overflow. */
static void test_depth(void) {
    enum { N = 200000 };
    char *s = malloc(2 * N + 16);
    ASSERT_TRUE(s != NULL);
    /* TSR__MAX_DEPTH levels are fine (and the resolver walks them). */
    int d = TSR__MAX_DEPTH;
    size_t k = 0;
    k += (size_t)sprintf(s, "(define (f x) x)");
    for (int i = 0; i < d; i++) s[k++] = '(', s[k++] = 'f', s[k++] = ' ';
    s[k++] = '1';
    for (int i = 0; i < d; i++) s[k++] = ')';
    s[k] = '\0';
    tsr__node *t = resolve_ok(s);
    tsr__node_free(t);
    /* One more level is refused at the '(' that opens it. */
    for (k = 0; k <= (size_t)d; k++) s[k] = '(';
    s[k] = '\0';
    char want[128];
    snprintf(want, sizeof want, "t.tsl:1:%d: parentheses nested deeper than %d levels", d + 1, d);
    expect_error(s, INVALID, want);
    /* Far deeper input, open and closed: same error, quickly. */
    for (k = 0; k < N; k++) s[k] = '(';
    for (; k < 2 * N; k++) s[k] = ')';
    s[k] = '\0';
    expect_error(s, INVALID, want);
    /* Long flat lists and many forms are fine. */
    k = 0;
    s[k++] = '(';
    s[k++] = 'f';
    for (int i = 0; i < N / 2 - 2; i++) s[k++] = ' ', s[k++] = '1';
    s[k++] = ')';
    s[k] = '\0';
    t = parse_ok(s);
    ASSERT_EQ(t->kids[0]->nkids, N / 2 - 1);
    tsr__node_free(t);
    free(s);
}

/* ---------------- resolver: names, scopes, forms ---------------- */

static void test_valid_programs(void) {
    tsr__node *t = resolve_ok(
        "; logistic-regression-like skeleton\n"
        "(define n 10)\n"
        "(define (step w k) (if (and true (or false true)) w k))\n"
        "(define (loop w k)\n"
        "  (let ((a w) (b a))\n"
        "    (define c b)\n"
        "    (set! c k)\n"
        "    (for (i 0 n 2) (define t i) (set! a t))\n"
        "    (while false (define t 1) (set! b t))\n"
        "    (block (define d 1) (set! d c))\n"
        "    (step a d)))\n"
        "(define (main x) (loop x (later x)))\n" /* called before its definition */
        "(define (later y) (block) (even y))\n"
        "(define (even y) (if false (odd y) y))\n" /* mutual recursion */
        "(define (odd y) (even y))\n");
    tsr__node *step = t->kids[1], *loop = t->kids[2];
    ASSERT_EQ(t->kids[0]->special, TSR__SF_DEFINE);
    ASSERT_EQ(step->special, TSR__SF_DEFINE);
    ASSERT_EQ(step->kids[2]->special, TSR__SF_IF);
    ASSERT_EQ(step->kids[2]->kids[1]->special, TSR__SF_AND);
    ASSERT_EQ(step->kids[2]->kids[1]->kids[2]->special, TSR__SF_OR);
    tsr__node *let = loop->kids[2];
    ASSERT_EQ(let->special, TSR__SF_LET);
    ASSERT_EQ(let->kids[1]->special, TSR__SF_NONE); /* the binding list is not a form */
    ASSERT_EQ(let->kids[2]->special, TSR__SF_DEFINE);
    ASSERT_EQ(let->kids[3]->special, TSR__SF_SET);
    ASSERT_EQ(let->kids[4]->special, TSR__SF_FOR);
    ASSERT_EQ(let->kids[5]->special, TSR__SF_WHILE);
    ASSERT_EQ(let->kids[6]->special, TSR__SF_BLOCK);
    ASSERT_EQ(let->kids[7]->special, TSR__SF_NONE); /* a user call */
    ASSERT_EQ(let->kids[7]->kids[0]->builtin, -1);
    tsr__node_free(t);

    /* Function bodies see every global, wherever it is defined. */
    expect_valid("(define (f) g)\n(define g 1)");
    /* Parameters and locals shadow globals and functions. */
    expect_valid("(define x 1)\n(define (f x) (define y x) y)\n(define (g f) f)");
    /* Nested functions: visible after their define, recursive inside. */
    expect_valid("(define (f n) (define (g k) (if k (g 0) 1)) (g n))");
    /* A define per loop iteration is not a redefinition; let and loops are scopes. */
    expect_valid("(define t 0)\n(for (i 3) (define t i) t)\n(let ((t 1)) (define u t) u)");
    /* set! reaches enclosing scopes, including globals from functions. */
    expect_valid("(define (f) (set! g 2))\n(define g 1)\n(f)");
    expect_valid("(define (main) 1)");
    expect_valid("(let () 1)\n(block)\n\"str\"\n3\ntrue");
}

static void test_name_errors(void) {
    expect_error("(define count 1)\n(define y cout)", NOTFOUND,
                 "t.tsl:2:11: unknown name 'cout' (did you mean 'count'?)");
    expect_error("(define alpha 1)\n(define y qqqq)", NOTFOUND, "t.tsl:2:11: unknown name 'qqqq'");
    expect_error("(define (f) (define (g) 1) (g))\n(g)", NOTFOUND, "t.tsl:2:2: unknown name 'g'");
    expect_error("(define y x)\n(define x 1)", NOTFOUND,
                 "t.tsl:1:11: 'x' is used before its definition (at 2:9)");
    expect_error("(set! y 1)", NOTFOUND, "t.tsl:1:7: unknown name 'y'");
    expect_error("(define speed 1)\n(set! sped 2)", NOTFOUND,
                 "t.tsl:2:7: unknown name 'sped' (did you mean 'speed'?)");
    expect_error("(define (f a) (undefind a))\n(define (undefined b) b)", NOTFOUND,
                 "t.tsl:1:16: unknown name 'undefind' (did you mean 'undefined'?)");
    /* Scopes end. */
    expect_error("(let ((a 1)) a)\na", NOTFOUND, "t.tsl:2:1: unknown name 'a'");
    expect_error("(for (i 3) i)\n(define j i)", NOTFOUND, "t.tsl:2:11: unknown name 'i'");
    expect_error("(for (i i) 1)", NOTFOUND, "t.tsl:1:9: unknown name 'i'");
    expect_error("(let ((b a) (a 1)) b)", NOTFOUND, "t.tsl:1:10: unknown name 'a'");
    expect_error("(define (f) (g))\n(define (h) (define (g) 1) 2)", NOTFOUND,
                 "t.tsl:1:14: unknown name 'g'");
    expect_error("(define (f x) (define x 2) x)", INVALID,
                 "t.tsl:1:23: 'x' is already defined in this scope (at 1:12); use set! to change it");
    expect_error("(define x 1)\n(define x 2)", INVALID,
                 "t.tsl:2:9: 'x' is already defined in this scope (at 1:9); use set! to change it");
    expect_error("(define (f) 1)\n(define (f) 2)", INVALID,
                 "t.tsl:2:10: 'f' is already defined in this scope (at 1:10)");
    expect_error("(define f 1)\n(define (f) 2)", INVALID,
                 "t.tsl:2:10: 'f' is already defined in this scope (at 1:9)");
    expect_error("(let ((a 1) (a 2)) a)", INVALID,
                 "t.tsl:1:14: 'a' is already defined in this scope (at 1:8); use set! to change it");
    expect_error("(define (f x x) x)", INVALID,
                 "t.tsl:1:14: duplicate parameter 'x' in the definition of 'f'");
    expect_error("(define if 1)", INVALID,
                 "t.tsl:1:9: 'if' is a special form and cannot be redefined");
    expect_error("(define (f set!) 1)", INVALID,
                 "t.tsl:1:12: 'set!' is a special form and cannot be redefined");
    expect_error("(define (f) 1)\n(define g f)", INVALID, "t.tsl:2:11: function 'f' used as a value");
    expect_error("(define (f) 1)\n(set! f 2)", INVALID,
                 "t.tsl:2:7: set!: 'f' is a function, not a variable");
    expect_error("(define x 1)\n(x 2)", INVALID, "t.tsl:2:2: 'x' is not a function (it is a variable)");
    expect_error("(define (f x) (x))", INVALID, "t.tsl:1:16: 'x' is not a function (it is a variable)");
    expect_error("(define x while)", INVALID, "t.tsl:1:11: 'while' is a special form, not a value");
    expect_error("(define main 1)", INVALID,
                 "t.tsl:1:9: 'main' must be a function: (define (main params ...) body ...)");
    /* Only the first error, in program order. */
    expect_error("(define y zz)\n(define (f x x) 1)\n(zz2)", NOTFOUND, "t.tsl:1:11: unknown name 'zz'");
    expect_error("(define (f a) a)\n(f (f 1 2))\n(f)", INVALID, "t.tsl:2:4: f takes 1 argument, got 2");
    /* A long name is cut in messages. */
    char big[300];
    memset(big, 'q', 200);
    big[200] = '\0';
    char want[200];
    snprintf(want, sizeof want, "t.tsl:1:1: unknown name '%.60s...'", big);
    expect_error(big, NOTFOUND, want);
}

static void test_form_errors(void) {
    expect_error("(define (f a b) a)\n(f 1 2 3)", INVALID, "t.tsl:2:1: f takes 2 arguments, got 3");
    expect_error("(define (f a) a)\n(f)", INVALID, "t.tsl:2:1: f takes 1 argument, got 0");
    expect_error("(define (f) 1)\n  (f 1)", INVALID, "t.tsl:2:3: f takes 0 arguments, got 1");
    expect_error("()", INVALID,
                 "t.tsl:1:1: empty call '()': a call starts with the name of a builtin or function");
    expect_error("(1 2)", INVALID,
                 "t.tsl:1:2: cannot call a number: a call starts with the name of a builtin or function");
    expect_error("((f) 2)", INVALID,
                 "t.tsl:1:2: cannot call the value of a list: a call starts with the name of a builtin or function");
    expect_error("(\"f\")", INVALID,
                 "t.tsl:1:2: cannot call a string: a call starts with the name of a builtin or function");
    /* define */
    expect_error("(define x)", INVALID,
                 "t.tsl:1:1: define needs a name and a value: (define name expr) or (define (f params ...) body ...)");
    expect_error("(define (f x))", INVALID,
                 "t.tsl:1:1: define needs a name and a value: (define name expr) or (define (f params ...) body ...)");
    expect_error("(define x 1 2)", INVALID,
                 "t.tsl:1:1: define of a variable takes one value, got 2: (define name expr)");
    expect_error("(define 3 4)", INVALID,
                 "t.tsl:1:9: define: expected a name or (f params ...), got a number: (define name expr) or (define (f params ...) body ...)");
    expect_error("(define () 4)", INVALID,
                 "t.tsl:1:9: define: missing function name: (define (f params ...) body ...)");
    expect_error("(define (\"f\") 4)", INVALID,
                 "t.tsl:1:10: define: a function name must be a name, got a string");
    expect_error("(define (f a 2) 4)", INVALID,
                 "t.tsl:1:14: define: parameter 2 of 'f' must be a name, got a number");
    /* define only where it stands as a statement */
    expect_error("(define (f a) a)\n(f (define y 2))", INVALID,
                 "t.tsl:2:4: define is not allowed here: only at the top level or directly in a function, let, for, while or block body (use let for a local value)");
    expect_error("(if true (define y 2))", INVALID,
                 "t.tsl:1:10: define is not allowed here: only at the top level or directly in a function, let, for, while or block body (use let for a local value)");
    expect_error("(define x (block (define y 2) y))", INVALID,
                 "t.tsl:1:18: define is not allowed here: only at the top level or directly in a function, let, for, while or block body (use let for a local value)");
    expect_error("(let ((a (define b 1))) a)", INVALID,
                 "t.tsl:1:10: define is not allowed here: only at the top level or directly in a function, let, for, while or block body (use let for a local value)");
    /* set! */
    expect_error("(define x 1)\n(set! x)", INVALID, "t.tsl:2:1: set! takes 2 arguments, got 1: (set! name expr)");
    expect_error("(set! 1 2)", INVALID, "t.tsl:1:7: set!: expected a variable name, got a number");
    expect_error("(set! and 2)", INVALID, "t.tsl:1:7: set!: 'and' is a special form, not a variable");
    /* let */
    expect_error("(let)", INVALID,
                 "t.tsl:1:1: let takes at least 2 arguments, got 0: (let ((name expr) ...) body ...)");
    expect_error("(let ((a 1)))", INVALID,
                 "t.tsl:1:1: let takes at least 2 arguments, got 1: (let ((name expr) ...) body ...)");
    expect_error("(let x 1)", INVALID,
                 "t.tsl:1:6: let: expected a list of bindings, got a name: (let ((name expr) ...) body ...)");
    expect_error("(let (a 1) a)", INVALID,
                 "t.tsl:1:7: let: a binding must be (name expr): (let ((name expr) ...) body ...)");
    expect_error("(let ((a 1 2)) a)", INVALID,
                 "t.tsl:1:7: let: a binding must be (name expr): (let ((name expr) ...) body ...)");
    expect_error("(let ((1 1)) a)", INVALID,
                 "t.tsl:1:7: let: a binding must be (name expr): (let ((name expr) ...) body ...)");
    /* if, while, and, or */
    expect_error("(if)", INVALID, "t.tsl:1:1: if takes 2 or 3 arguments, got 0: (if c then [else])");
    expect_error("(if 1 2 3 4)", INVALID, "t.tsl:1:1: if takes 2 or 3 arguments, got 4: (if c then [else])");
    expect_error("(while)", INVALID, "t.tsl:1:1: while takes at least 1 argument, got 0: (while c body ...)");
    expect_error("(and)", INVALID, "t.tsl:1:1: and takes at least 1 argument, got 0: (and a b ...)");
    expect_error("(or)", INVALID, "t.tsl:1:1: or takes at least 1 argument, got 0: (or a b ...)");
    /* for */
    const char *fu = "(for (i n) body ...), (for (i start stop) body ...) or (for (i start stop step) body ...)";
    char want[512];
    snprintf(want, sizeof want, "t.tsl:1:1: for takes at least 1 argument, got 0: %s", fu);
    expect_error("(for)", INVALID, want);
    snprintf(want, sizeof want,
             "t.tsl:1:6: for: expected (i n), (i start stop) or (i start stop step): %s", fu);
    expect_error("(for i 10)", INVALID, want);
    expect_error("(for (i) 1)", INVALID, want);
    expect_error("(for (i 1 2 3 4) 1)", INVALID, want);
    expect_error("(for (1 2) 1)", INVALID, want);
    expect_error("(for (if 2) 1)", INVALID, "t.tsl:1:7: 'if' is a special form and cannot be redefined");
}

static void test_did_you_mean(void) {
    ASSERT_EQ(tsr__edit_distance("tranpose", "transpose"), 1);
    ASSERT_EQ(tsr__edit_distance("kitten", "sitting"), 3);
    ASSERT_EQ(tsr__edit_distance("ab", "ba"), 1);
    ASSERT_EQ(tsr__edit_distance("tranpsose", "transpose"), 1);
    ASSERT_EQ(tsr__edit_distance("", "abc"), 3);
    ASSERT_EQ(tsr__edit_distance("same", "same"), 0);
    tsr__suggest s;
    tsr__suggest_init(&s, "lenght");
    tsr__suggest_add(&s, "weight");
    tsr__suggest_add(&s, "length");
    tsr__suggest_add(&s, "lengths");
    ASSERT_TRUE(s.best && !strcmp(s.best, "length"));
    tsr__suggest_init(&s, "ab");
    tsr__suggest_add(&s, "xy");
    ASSERT_TRUE(s.best == NULL);
    tsr__suggest_add(&s, "abc");
    ASSERT_TRUE(s.best && !strcmp(s.best, "abc"));
    tsr__suggest_init(&s, "g"); /* one byte: nothing is close enough */
    tsr__suggest_add(&s, "f");
    ASSERT_TRUE(s.best == NULL);
    ASSERT_EQ(tsr__special_find("set!"), TSR__SF_SET);
    ASSERT_EQ(tsr__special_find("sett"), TSR__SF_NONE);
    ASSERT_TRUE(!strcmp(tsr__special_name(TSR__SF_FOR), "for"));
    /* Special forms are suggested too. */
    expect_error("(whlie true 1)", NOTFOUND, "t.tsl:1:2: unknown name 'whlie' (did you mean 'while'?)");
}

/* ---------------- with the builtin table ---------------- */

static void test_builtins(void) {
    int dot = tsr__builtin_find("dot");
    if (dot < 0 || tsr__builtin_find("zeros") < 0 || tsr__builtin_find("+") < 0 ||
        tsr__builtin_find("transpose") < 0 || tsr__builtin_find("sum") < 0)
        TEST_FAIL("the builtin table lacks dot/zeros/+/transpose/sum (%d builtins)",
                  tsr__builtin_count());
    tsr__node *t = resolve_ok("(define a (zeros 3 4))\n(define b (dot (transpose a) (+ a 1)))\n"
                              "(define s (sum b 0))");
    tsr__node *call = t->kids[1]->kids[2];
    ASSERT_EQ(call->kids[0]->builtin, dot);
    ASSERT_EQ(call->special, TSR__SF_NONE);
    ASSERT_EQ(call->kids[1]->kids[0]->builtin, tsr__builtin_find("transpose"));
    ASSERT_EQ(call->kids[1]->kids[1]->builtin, -1); /* a variable */
    ASSERT_EQ(call->kids[2]->kids[0]->builtin, tsr__builtin_find("+"));
    tsr__node_free(t);
    expect_error("(define a (zeros 3 4))\n(define b (tranpose a))", NOTFOUND,
                 "t.tsl:2:12: unknown name 'tranpose' (did you mean 'transpose'?)");
    expect_error("(define n 3)\n(zeros n 1 2)", INVALID,
                 "t.tsl:2:1: zeros takes 1 or 2 arguments, got 3: (zeros n [m])");
    expect_error("(+ 1 (define x 2))", INVALID,
                 "t.tsl:1:6: define is not allowed here: only at the top level or directly in a function, let, for, while or block body (use let for a local value)");
    expect_error("(define x sum)", INVALID,
                 "t.tsl:1:11: builtin 'sum' used as a value (builtins can only be called: (sum x [axis]))");
    expect_error("(define sum 1)", INVALID,
                 "t.tsl:1:9: 'sum' is a builtin and cannot be redefined; choose another name");
    expect_error("(define (f dot) 1)", INVALID,
                 "t.tsl:1:12: 'dot' is a builtin and cannot be redefined; choose another name");
    expect_error("(set! sum 1)", INVALID, "t.tsl:1:7: set!: 'sum' is a builtin, not a variable");
    expect_error("(define x (sume (zeros 2)))", NOTFOUND,
                 "t.tsl:1:12: unknown name 'sume' (did you mean 'sum'?)");
    expect_error("(print (+ 1))", INVALID, "t.tsl:1:8: + takes at least 2 arguments, got 1: (+ a b ...)");
    expect_error("(dot 1)", INVALID, "t.tsl:1:1: dot takes 2 arguments, got 1: (dot a b)");
}

/* Random token soup: parsing and resolving never crash, and every failure
 * names a place in the file. */
static void test_soup(void) {
    static const char *const pieces[] = {
        "(", "(", "(", ")", ")", ")", " ", "\n", "\r\n", "\t", ";c\n", "define", "set!", "let",
        "for", "while", "if", "and", "or", "block", "x", "y", "f", "main", "1", "-2.5", "1e999",
        "2x", "\"s\"", "\"\\n\"", "\"\\q\"", "\"", "true", "zeros", "sum", "+", "dot", "()",
    };
    enum { NP = sizeof pieces / sizeof pieces[0] };
    uint64_t seed = 88172645463325252ull;
    char src[512];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0;
        int n = 1 + (int)(seed % 40);
        for (int i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            const char *p = pieces[seed % NP];
            size_t pl = strlen(p);
            if (len + pl + 2 >= sizeof src) break;
            memcpy(src + len, p, pl);
            len += pl;
            src[len++] = ' ';
        }
        src[len] = '\0';
        tsr__node *top = NULL;
        int rc = tsr__parse(FILE_NAME, src, &top);
        if (rc == TSR_OK) {
            rc = tsr__resolve(top);
            tsr__node_free(top);
        }
        if (rc != TSR_OK && strncmp(tsr_error_message(), "t.tsl:", 6))
            TEST_FAIL("<<%.200s>>: message without a place: %.300s", src, tsr_error_message());
    }
}

int main(void) {
    test_atoms();
    test_strings();
    test_positions();
    test_parens();
    test_depth();
    test_valid_programs();
    test_name_errors();
    test_form_errors();
    test_did_you_mean();
    test_soup();
    test_builtins();
    printf("lang parse: ok\n");
    return 0;
}
