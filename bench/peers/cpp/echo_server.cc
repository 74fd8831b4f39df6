// The Echo service of proto/examples/echo.proto on gRPC C++ (Debian libgrpc++ 1.51),
// callback API: the C++ peer of bench/. Unary Say only does real work here; the
// streaming methods are implemented simply so the service is complete.
//
//   echo_server_cpp --listen 127.0.0.1:0 [--name NAME] [--workers N]
// prints "listening on HOST:PORT" on stderr once ready; SIGTERM/SIGINT stop it.
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "echo.grpc.pb.h"

namespace v1 = shimkit::examples::v1;

namespace {

void FillReply(const std::string& message, uint32_t index, const std::string& name, v1::EchoReply* reply) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  reply->set_message(message);
  reply->set_index(index);
  reply->mutable_handled_at()->set_seconds(ns / 1000000000);
  reply->mutable_handled_at()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  reply->set_served_by(name);
}

void EchoMetadata(grpc::CallbackServerContext* ctx) {
  for (const auto& [k, v] : ctx->client_metadata()) {
    std::string key(k.data(), k.size());
    if (key.rfind("x-echo-", 0) != 0) continue;
    std::string value(v.data(), v.size());
    ctx->AddInitialMetadata(key, value);
    ctx->AddTrailingMetadata(key + "-trailer", value);
  }
}

class EchoService final : public v1::Echo::CallbackService {
 public:
  explicit EchoService(std::string name) : name_(std::move(name)) {}

  grpc::ServerUnaryReactor* Say(grpc::CallbackServerContext* ctx, const v1::EchoRequest* req,
                                v1::EchoReply* reply) override {
    auto* reactor = ctx->DefaultReactor();
    EchoMetadata(ctx);
    if (req->delay_ms()) std::this_thread::sleep_for(std::chrono::milliseconds(req->delay_ms()));
    if (req->fail_code()) {
      reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(req->fail_code()), req->fail_message()));
      return reactor;
    }
    FillReply(req->message(), 0, name_, reply);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<v1::EchoReply>* Expand(grpc::CallbackServerContext* ctx,
                                                  const v1::ExpandRequest* req) override {
    class Writer : public grpc::ServerWriteReactor<v1::EchoReply> {
     public:
      Writer(const v1::ExpandRequest* req, const std::string& name) : req_(*req), name_(name) { Next(); }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (i_ >= req_.count()) return Finish(grpc::Status::OK);
        if (i_ > 0 && req_.interval_ms()) std::this_thread::sleep_for(std::chrono::milliseconds(req_.interval_ms()));
        FillReply(req_.message(), i_++, name_, &reply_);
        StartWrite(&reply_);
      }
      v1::ExpandRequest req_;
      std::string name_;
      v1::EchoReply reply_;
      uint32_t i_ = 0;
    };
    EchoMetadata(ctx);
    return new Writer(req, name_);
  }

  grpc::ServerReadReactor<v1::EchoRequest>* Collect(grpc::CallbackServerContext* ctx,
                                                    v1::CollectReply* reply) override {
    class Reader : public grpc::ServerReadReactor<v1::EchoRequest> {
     public:
      explicit Reader(v1::CollectReply* reply) : reply_(reply) { StartRead(&req_); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        if (reply_->count()) reply_->mutable_joined()->append(" ");
        reply_->mutable_joined()->append(req_.message());
        reply_->set_count(reply_->count() + 1);
        StartRead(&req_);
      }
      void OnDone() override { delete this; }

     private:
      v1::CollectReply* reply_;
      v1::EchoRequest req_;
    };
    EchoMetadata(ctx);
    return new Reader(reply);
  }

  grpc::ServerBidiReactor<v1::EchoRequest, v1::EchoReply>* Chat(grpc::CallbackServerContext* ctx) override {
    class Chatter : public grpc::ServerBidiReactor<v1::EchoRequest, v1::EchoReply> {
     public:
      explicit Chatter(const std::string& name) : name_(name) { StartRead(&req_); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        FillReply(req_.message(), i_++, name_, &reply_);
        StartWrite(&reply_);
      }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        StartRead(&req_);
      }
      void OnDone() override { delete this; }

     private:
      std::string name_;
      v1::EchoRequest req_;
      v1::EchoReply reply_;
      uint32_t i_ = 0;
    };
    EchoMetadata(ctx);
    return new Chatter(name_);
  }

 private:
  std::string name_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:50051", name = "echo-cpp";
  int workers = 16;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) listen = argv[++i];
    else if (a == "--name" && i + 1 < argc) name = argv[++i];
    else if (a == "--workers" && i + 1 < argc) workers = std::atoi(argv[++i]);
    else { std::fprintf(stderr, "usage: %s [--listen ADDR] [--name NAME] [--workers N]\n", argv[0]); return 2; }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread inherits this; main sigwaits

  EchoService service(name);
  grpc::ResourceQuota quota("echo-cpp");
  quota.SetMaxThreads(workers);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "echo_server_cpp: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  std::fprintf(stderr, "echo_server_cpp: listening on %s:%d (name %s)\n", host.c_str(), port, name.c_str());
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::fprintf(stderr, "echo_server_cpp: stopped\n");
  return 0;
}
