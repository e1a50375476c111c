#include "glpdepth/dist/ddp.h"

#include "glpdepth/util/error.h"

namespace glpdepth::dist {
namespace {

// Groups tensors (by index) into buckets of one dtype and device, each at most `bucket_bytes`
// unless a single tensor is larger, in the order given.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<torch::Tensor>& tensors,
                                              const std::vector<size_t>& order,
                                              int64_t bucket_bytes) {
  struct Open {
    torch::Dtype dtype;
    torch::Device device;
    size_t bucket;
    int64_t bytes;
  };
  std::vector<std::vector<size_t>> buckets;
  std::vector<Open> open;
  for (size_t index : order) {
    const torch::Tensor& t = tensors[index];
    int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    auto it = std::find_if(open.begin(), open.end(), [&](const Open& o) {
      return o.dtype == t.scalar_type() && o.device == t.device();
    });
    if (it != open.end() && it->bytes + bytes > bucket_bytes) {
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      buckets.emplace_back();
      open.push_back({t.scalar_type(), t.device(), buckets.size() - 1, 0});
      it = open.end() - 1;
    }
    buckets[it->bucket].push_back(index);
    it->bytes += bytes;
  }
  return buckets;
}

std::vector<size_t> identity_order(size_t n) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

std::vector<size_t> reverse_order(size_t n) {
  std::vector<size_t> order = identity_order(n);
  std::reverse(order.begin(), order.end());
  return order;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& ids) {
  std::vector<torch::Tensor> pieces;
  pieces.reserve(ids.size());
  for (size_t id : ids) pieces.push_back(tensors[id].detach().reshape({-1}));
  return torch::cat(pieces);
}

}  // namespace

void broadcast_tensors(Group& group, const std::vector<torch::Tensor>& tensors, int root) {
  if (group.size() == 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<std::vector<size_t>> buckets =
      plan_buckets(tensors, identity_order(tensors.size()), kDefaultBucketBytes);
  for (const auto& bucket : buckets) {
    torch::Tensor flat = flatten(tensors, bucket);
    group.broadcast(flat, root);
    int64_t offset = 0;
    for (size_t id : bucket) {
      torch::Tensor t = tensors[id];
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void broadcast_module(Group& group, torch::nn::Module& module, int root) {
  std::vector<torch::Tensor> tensors = module.parameters(true);
  for (const torch::Tensor& buffer : module.buffers(true)) tensors.push_back(buffer);
  broadcast_tensors(group, tensors, root);
}

void allreduce_gradients(Group& group, const std::vector<torch::Tensor>& parameters,
                         int64_t bucket_bytes) {
  if (group.size() == 1) return;
  std::vector<torch::Tensor> params;
  for (const torch::Tensor& p : parameters) {
    if (p.requires_grad()) params.push_back(p);
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (torch::Tensor& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  std::vector<std::vector<size_t>> buckets =
      plan_buckets(grads, reverse_order(grads.size()), bucket_bytes);
  std::vector<torch::Tensor> flats;
  std::vector<std::unique_ptr<Pending>> works;
  for (const auto& bucket : buckets) {
    flats.push_back(flatten(grads, bucket));
    works.push_back(group.allreduce_sum_async(flats.back()));
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    works[b]->wait();
    flats[b].div_(group.size());
    int64_t offset = 0;
    for (size_t id : buckets[b]) {
      torch::Tensor& g = grads[id];
      g.copy_(flats[b].narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
}

GradientReducer::GradientReducer(std::shared_ptr<Group> group,
                                 std::vector<torch::Tensor> parameters, ReducerOptions options)
    : group_(std::move(group)), options_(options) {
  check(group_ != nullptr, "GradientReducer: no process group");
  check(options_.bucket_bytes > 0, "GradientReducer: bucket size must be positive");
  for (torch::Tensor& p : parameters) {
    if (p.requires_grad()) parameters_.push_back(p);
  }
  if (group_->size() == 1) return;
  for (const torch::Tensor& p : parameters_) {
    check(p.is_leaf(), "GradientReducer: parameters must be leaf tensors");
  }
  std::vector<std::vector<size_t>> plan =
      plan_buckets(parameters_, reverse_order(parameters_.size()), options_.bucket_bytes);
  slot_.resize(parameters_.size());
  filled_.assign(parameters_.size(), false);
  for (size_t b = 0; b < plan.size(); ++b) {
    Bucket bucket;
    bucket.params = plan[b];
    int64_t total = 0;
    for (size_t i = 0; i < plan[b].size(); ++i) {
      slot_[plan[b][i]] = {b, i};
      bucket.offsets.push_back(total);
      total += parameters_[plan[b][i]].numel();
    }
    const torch::Tensor& first = parameters_[plan[b].front()];
    bucket.flat = torch::zeros({total}, first.options().requires_grad(false));
    bucket.waiting = plan[b].size();
    buckets_.push_back(std::move(bucket));
  }
  if (options_.overlap) {
    for (size_t i = 0; i < parameters_.size(); ++i) {
      hooks_.push_back(parameters_[i].register_hook(
          [this, i](const torch::Tensor& grad) { return on_gradient(i, grad); }));
    }
  }
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < hooks_.size(); ++i) parameters_[i].remove_hook(hooks_[i]);
  // Collectives still in flight write into our buffers: let them land before freeing them.
  for (Bucket& bucket : buckets_) {
    if (bucket.work) {
      try {
        bucket.work->wait();
      } catch (const std::exception&) {
      }
    }
  }
}

torch::Tensor GradientReducer::on_gradient(size_t index, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  check(!filled_[index], "GradientReducer: a second backward before finish(); call finish() ",
        "after every backward");
  if (!in_backward_) {
    in_backward_ = true;
    launched_in_backward_ = 0;
  }
  auto [b, position] = slot_[index];
  Bucket& bucket = buckets_[b];
  {
    torch::NoGradGuard no_grad;
    bucket.flat.narrow(0, bucket.offsets[position], grad.numel()).copy_(grad.reshape({-1}));
  }
  filled_[index] = true;
  if (--bucket.waiting == 0) {
    bucket.ready = true;
    size_t before = next_launch_;
    launch_ready();
    launched_in_backward_ += static_cast<int64_t>(next_launch_ - before);
  }
  return torch::zeros_like(grad);
}

void GradientReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready) {
    Bucket& bucket = buckets_[next_launch_++];
    bucket.work = group_->allreduce_sum_async(bucket.flat);
  }
}

void GradientReducer::finish() {
  if (group_->size() == 1) return;
  if (!options_.overlap) {
    allreduce_gradients(*group_, parameters_, options_.bucket_bytes);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  torch::NoGradGuard no_grad;
  try {
    for (size_t b = next_launch_; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      for (size_t i = 0; i < bucket.params.size(); ++i) {
        size_t index = bucket.params[i];
        if (!filled_[index]) {
          bucket.flat.narrow(0, bucket.offsets[i], parameters_[index].numel()).zero_();
        }
      }
      bucket.ready = true;
    }
    launch_ready();
    for (Bucket& bucket : buckets_) {
      bucket.work->wait();
      bucket.work.reset();
      bucket.flat.div_(group_->size());
      for (size_t i = 0; i < bucket.params.size(); ++i) {
        torch::Tensor& p = parameters_[bucket.params[i]];
        torch::Tensor mean = bucket.flat.narrow(0, bucket.offsets[i], p.numel()).view(p.sizes());
        if (p.grad().defined()) {
          p.mutable_grad().add_(mean);
        } else {
          p.mutable_grad() = mean.clone();
        }
      }
    }
  } catch (...) {
    reset();
    throw;
  }
  reset();
}

void GradientReducer::reset() {
  for (Bucket& bucket : buckets_) {
    bucket.waiting = bucket.params.size();
    bucket.ready = false;
  }
  std::fill(filled_.begin(), filled_.end(), false);
  next_launch_ = 0;
  in_backward_ = false;
}

std::vector<std::vector<size_t>> GradientReducer::buckets() const {
  std::vector<std::vector<size_t>> out;
  for (const Bucket& bucket : buckets_) out.push_back(bucket.params);
  return out;
}

}  // namespace glpdepth::dist
