// libxml2 as Jisr uses it: parser, tree, XSD validation, structured errors.
#include <libxml/xmlversion.h>
// Debian builds libxml2 with ICU; its ICU headers clash with Foundation's bundled ICU. Jisr accepts UTF-8
// only and never touches the encoding handler's ICU fields, so the ICU declarations are left out.
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlerror.h>
