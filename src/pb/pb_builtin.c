/* Built-in schemas: the well-known types (from Debian's protobuf-compiler, /usr/include/google/
 * protobuf), google.rpc.Status and BadRequest (tests/vectors/protos/google/rpc) and gRPC's
 * helloworld.proto and gRPC server reflection (v1alpha and v1, from Debian's grpc-go sources), as
 * .proto text with comments and options stripped, parsed by our own parser
 * at startup. Generated once by a short script from those files; regenerate the same way. */
#include <string.h>

#include "pb/pb_schema.h"

/* gRPC server reflection: v1alpha and v1 share every message; only the package differs. */
#define REFLECTION_BODY \
     "service ServerReflection {\n" \
     "  rpc ServerReflectionInfo(stream ServerReflectionRequest)\n" \
     "      returns (stream ServerReflectionResponse);\n" \
     "}\n" \
     "message ServerReflectionRequest {\n" \
     "  string host = 1;\n" \
     "  oneof message_request {\n" \
     "    string file_by_filename = 3;\n" \
     "    string file_containing_symbol = 4;\n" \
     "    ExtensionRequest file_containing_extension = 5;\n" \
     "    string all_extension_numbers_of_type = 6;\n" \
     "    string list_services = 7;\n" \
     "  }\n" \
     "}\n" \
     "message ExtensionRequest {\n" \
     "  string containing_type = 1;\n" \
     "  int32 extension_number = 2;\n" \
     "}\n" \
     "message ServerReflectionResponse {\n" \
     "  string valid_host = 1;\n" \
     "  ServerReflectionRequest original_request = 2;\n" \
     "  oneof message_response {\n" \
     "    FileDescriptorResponse file_descriptor_response = 4;\n" \
     "    ExtensionNumberResponse all_extension_numbers_response = 5;\n" \
     "    ListServiceResponse list_services_response = 6;\n" \
     "    ErrorResponse error_response = 7;\n" \
     "  }\n" \
     "}\n" \
     "message FileDescriptorResponse {\n" \
     "  repeated bytes file_descriptor_proto = 1;\n" \
     "}\n" \
     "message ExtensionNumberResponse {\n" \
     "  string base_type_name = 1;\n" \
     "  repeated int32 extension_number = 2;\n" \
     "}\n" \
     "message ListServiceResponse {\n" \
     "  repeated ServiceResponse service = 1;\n" \
     "}\n" \
     "message ServiceResponse {\n" \
     "  string name = 1;\n" \
     "}\n" \
     "message ErrorResponse {\n" \
     "  int32 error_code = 1;\n" \
     "  string error_message = 2;\n" \
     "}\n"

static const struct {
    const char *name;
    const char *text;
} builtins[] = {
    {"google/protobuf/any.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message Any {\n"
     "  string type_url = 1;\n"
     "  bytes value = 2;\n"
     "}\n"},
    {"google/protobuf/timestamp.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message Timestamp {\n"
     "  int64 seconds = 1;\n"
     "  int32 nanos = 2;\n"
     "}\n"},
    {"google/protobuf/duration.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message Duration {\n"
     "  int64 seconds = 1;\n"
     "  int32 nanos = 2;\n"
     "}\n"},
    {"google/protobuf/empty.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message Empty {}\n"},
    {"google/protobuf/struct.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message Struct {\n"
     "  map<string, Value> fields = 1;\n"
     "}\n"
     "message Value {\n"
     "  oneof kind {\n"
     "    NullValue null_value = 1;\n"
     "    double number_value = 2;\n"
     "    string string_value = 3;\n"
     "    bool bool_value = 4;\n"
     "    Struct struct_value = 5;\n"
     "    ListValue list_value = 6;\n"
     "  }\n"
     "}\n"
     "enum NullValue {\n"
     "  NULL_VALUE = 0;\n"
     "}\n"
     "message ListValue {\n"
     "  repeated Value values = 1;\n"
     "}\n"},
    {"google/protobuf/wrappers.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message DoubleValue {\n"
     "  double value = 1;\n"
     "}\n"
     "message FloatValue {\n"
     "  float value = 1;\n"
     "}\n"
     "message Int64Value {\n"
     "  int64 value = 1;\n"
     "}\n"
     "message UInt64Value {\n"
     "  uint64 value = 1;\n"
     "}\n"
     "message Int32Value {\n"
     "  int32 value = 1;\n"
     "}\n"
     "message UInt32Value {\n"
     "  uint32 value = 1;\n"
     "}\n"
     "message BoolValue {\n"
     "  bool value = 1;\n"
     "}\n"
     "message StringValue {\n"
     "  string value = 1;\n"
     "}\n"
     "message BytesValue {\n"
     "  bytes value = 1;\n"
     "}\n"},
    {"google/protobuf/field_mask.proto",
     "syntax = \"proto3\";\n"
     "package google.protobuf;\n"
     "message FieldMask {\n"
     "  repeated string paths = 1;\n"
     "}\n"},
    {"google/rpc/status.proto",
     "syntax = \"proto3\";\n"
     "package google.rpc;\n"
     "import \"google/protobuf/any.proto\";\n"
     "message Status {\n"
     "  int32 code = 1;\n"
     "  string message = 2;\n"
     "  repeated google.protobuf.Any details = 3;\n"
     "}\n"},
    {"google/rpc/error_details.proto",
     "syntax = \"proto3\";\n"
     "package google.rpc;\n"
     "message BadRequest {\n"
     "  message FieldViolation {\n"
     "    string field = 1;\n"
     "    string description = 2;\n"
     "  }\n"
     "  repeated FieldViolation field_violations = 1;\n"
     "}\n"},
    {"grpc/reflection/v1alpha/reflection.proto",
     "syntax = \"proto3\";\n"
     "package grpc.reflection.v1alpha;\n" REFLECTION_BODY},
    {"grpc/reflection/v1/reflection.proto",
     "syntax = \"proto3\";\n"
     "package grpc.reflection.v1;\n" REFLECTION_BODY},
    {"helloworld.proto",
     "syntax = \"proto3\";\n"
     "package helloworld;\n"
     "service Greeter {\n"
     "  rpc SayHello (HelloRequest) returns (HelloReply) {}\n"
     "  rpc SayHelloStreamReply (HelloRequest) returns (stream HelloReply) {}\n"
     "  rpc SayHelloBidiStream (stream HelloRequest) returns (stream HelloReply) {}\n"
     "}\n"
     "message HelloRequest {\n"
     "  string name = 1;\n"
     "}\n"
     "message HelloReply {\n"
     "  string message = 1;\n"
     "}\n"},
};

const char *pb_builtin_source(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].text;
    return NULL;
}

int pb_schemas_add_builtin(pb_schemas *s)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        int e = pb_schemas_builtin_parse(s, builtins[i].name, NULL, 0);
        if (e)
            return e;
    }
    return 0;
}
