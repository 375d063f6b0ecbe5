#include "facefuse/processors/face_swapper/onnx_swapper.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/crop_tensor.h"
#include "facefuse/face/paste_back.h"
#include "facefuse/inference/session_cache.h"
#include "facefuse/processors/face_swapper/onnx_initializer.h"
#include "facefuse/processors/model_files.h"

namespace facefuse::processors {
namespace {

constexpr int kEmbeddingSize = face::ArcfaceRecognizer::kEmbeddingSize;
constexpr const char* kRecognizerId = "arcface_w600k_r50";

Result<SwapperFamily> parse_family(const std::string& name) {
  if (name == "inswapper") return SwapperFamily::kInswapper;
  if (name == "hyperswap") return SwapperFamily::kHyperswap;
  if (name == "simswap") return SwapperFamily::kSimswap;
  if (name == "simswap_unofficial") return SwapperFamily::kSimswapUnofficial;
  if (name == "ghost") return SwapperFamily::kGhost;
  if (name == "blendswap") return SwapperFamily::kBlendswap;
  if (name == "uniface") return SwapperFamily::kUniface;
  return invalid_argument(fmt::format("unknown face swapper family '{}'", name));
}

Result<SwapperSourceInput> parse_source_input(const std::string& name) {
  if (name == "emap_embedding") return SwapperSourceInput::kEmapEmbedding;
  if (name == "embedding_norm") return SwapperSourceInput::kEmbeddingNorm;
  if (name == "converted_embedding_norm") return SwapperSourceInput::kConvertedEmbeddingNorm;
  if (name == "converted_embedding") return SwapperSourceInput::kConvertedEmbedding;
  if (name == "source_image") return SwapperSourceInput::kSourceImage;
  return invalid_argument(fmt::format("unknown swapper source input '{}'", name));
}

bool uses_embedding(SwapperSourceInput input) { return input != SwapperSourceInput::kSourceImage; }

std::vector<float> average(const std::vector<std::vector<float>>& vectors) {
  std::vector<float> out(vectors.front().size(), 0.0f);
  for (const auto& v : vectors) {
    for (size_t i = 0; i < out.size(); ++i) out[i] += v[i];
  }
  for (float& v : out) v /= static_cast<float>(vectors.size());
  return out;
}

}  // namespace

bool SwapperContract::denormalises_output() const {
  return family == SwapperFamily::kGhost || family == SwapperFamily::kHyperswap || family == SwapperFamily::kUniface;
}

bool SwapperContract::normalises_target_embedding() const {
  return family == SwapperFamily::kInswapper || family == SwapperFamily::kHyperswap ||
         family == SwapperFamily::kSimswap || family == SwapperFamily::kSimswapUnofficial;
}

Result<SwapperContract> parse_swapper_contract(const nlohmann::json& contract) {
  if (!contract.is_object()) return invalid_argument("the catalogue entry has no contract object");
  SwapperContract c;
  try {
    FF_ASSIGN_OR_RETURN(c.family, parse_family(contract.at("family").get<std::string>()));
    FF_ASSIGN_OR_RETURN(c.alignment, face::parse_alignment_template(contract.at("template").get<std::string>()));
    c.size = contract.at("size").get<int>();
    const auto mean = contract.at("mean").get<std::vector<float>>();
    const auto std = contract.at("std").get<std::vector<float>>();
    if (mean.size() != 3 || std.size() != 3) return invalid_argument("contract mean/std must have 3 values (RGB)");
    std::copy(mean.begin(), mean.end(), c.mean.begin());
    std::copy(std.begin(), std.end(), c.std.begin());
    FF_ASSIGN_OR_RETURN(c.source_input, parse_source_input(contract.at("source_input").get<std::string>()));
    if (c.source_input == SwapperSourceInput::kSourceImage) {
      FF_ASSIGN_OR_RETURN(c.source_alignment,
                          face::parse_alignment_template(contract.at("source_template").get<std::string>()));
      c.source_size = contract.at("source_size").get<int>();
    }
    if (c.source_input == SwapperSourceInput::kConvertedEmbedding ||
        c.source_input == SwapperSourceInput::kConvertedEmbeddingNorm) {
      c.converter = contract.at("converter").get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(fmt::format("bad face_swapper contract {}: {}", contract.dump(), e.what()));
  }
  if (c.size <= 0 || (c.source_input == SwapperSourceInput::kSourceImage && c.source_size <= 0)) {
    return invalid_argument(fmt::format("bad face_swapper contract {}: sizes must be positive", contract.dump()));
  }
  return c;
}

std::vector<CatalogModelRef> swapper_helper_models(const SwapperContract& contract) {
  std::vector<CatalogModelRef> helpers;
  if (uses_embedding(contract.source_input)) helpers.push_back({kRecognizerId, "face_recognizer"});
  if (!contract.converter.empty()) helpers.push_back({contract.converter, "embedding_converter"});
  return helpers;
}

float identity_weight(float face_swapper_weight) {
  const float w = std::clamp(face_swapper_weight, 0.0f, 1.0f);
  return 0.35f - 0.7f * w;
}

std::vector<cv::Mat> implode_pixel_boost(const cv::Mat& crop, int n) {
  const int s = crop.rows / n;
  std::vector<cv::Mat> parts;
  parts.reserve(static_cast<size_t>(n) * n);
  const size_t elem = crop.elemSize();
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      cv::Mat part(s, s, crop.type());
      for (int y = 0; y < s; ++y) {
        const uchar* src = crop.ptr(y * n + i);
        uchar* dst = part.ptr(y);
        for (int x = 0; x < s; ++x) std::memcpy(dst + x * elem, src + (static_cast<size_t>(x) * n + j) * elem, elem);
      }
      parts.push_back(std::move(part));
    }
  }
  return parts;
}

cv::Mat explode_pixel_boost(const std::vector<cv::Mat>& parts, int n) {
  const int s = parts.front().rows;
  cv::Mat crop(s * n, s * n, parts.front().type());
  const size_t elem = crop.elemSize();
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const cv::Mat& part = parts[static_cast<size_t>(i) * n + j];
      for (int y = 0; y < s; ++y) {
        const uchar* src = part.ptr(y);
        uchar* dst = crop.ptr(y * n + i);
        for (int x = 0; x < s; ++x) std::memcpy(dst + (static_cast<size_t>(x) * n + j) * elem, src + x * elem, elem);
      }
    }
  }
  return crop;
}

Result<std::unique_ptr<OnnxSwapper>> OnnxSwapper::open(const std::string& model_id, const OnnxSwapOptions& options,
                                                       const ProcessorContext& context) {
  std::unique_ptr<OnnxSwapper> swapper(new OnnxSwapper());
  swapper->options_ = options;
  FF_ASSIGN_OR_RETURN(auto model, require_installed_model(model_id, "face_swapper", context.models_dir));
  FF_ASSIGN_OR_RETURN(swapper->contract_, parse_swapper_contract(model.entry->contract));
  const SwapperContract& c = swapper->contract_;
  swapper->crop_size_ = options.pixel_boost > 0 ? options.pixel_boost : c.size;
  if (swapper->crop_size_ % c.size != 0) {
    return invalid_argument(fmt::format("face_swapper_pixel_boost {0}x{0} is not a multiple of {1}'s size {2}x{2}: "
                                        "use {2}x{2}, {3}x{3}, {4}x{4}, ...",
                                        swapper->crop_size_, model_id, c.size, 2 * c.size, 4 * c.size));
  }

  // Everything that can be missing is resolved before any model is loaded.
  std::optional<InstalledModel> recognizer_model, converter_model;
  for (const CatalogModelRef& helper : swapper_helper_models(c)) {
    FF_ASSIGN_OR_RETURN(InstalledModel installed, require_installed_model(helper.id, helper.kind, context.models_dir));
    (helper.kind == "face_recognizer" ? recognizer_model : converter_model) = std::move(installed);
  }
  FF_ASSIGN_OR_RETURN(swapper->masker_, CropMasker::open(options.masks, context));

  FF_ASSIGN_OR_RETURN(swapper->session_, inference::open_session(model.path, context.session));
  const auto& inputs = swapper->session_->inputs();
  auto has_input = [&](const char* name) {
    return std::any_of(inputs.begin(), inputs.end(), [&](const auto& i) { return i.name == name; });
  };
  if (!has_input("source") || !has_input("target") || swapper->session_->outputs().empty()) {
    return invalid_argument(fmt::format("{} is not a FaceFusion face swapper: it needs inputs `source` and `target`",
                                        model.path.string()));
  }
  if (recognizer_model) {
    FF_ASSIGN_OR_RETURN(swapper->recognizer_, face::ArcfaceRecognizer::open(recognizer_model->path, context.session));
  }
  if (converter_model) {
    FF_ASSIGN_OR_RETURN(swapper->converter_, inference::open_session(converter_model->path, context.session));
  }
  if (c.source_input == SwapperSourceInput::kEmapEmbedding) {
    FF_ASSIGN_OR_RETURN(auto emap, read_last_onnx_initializer(model.path));
    if (emap.values.size() != static_cast<size_t>(kEmbeddingSize) * kEmbeddingSize) {
      return invalid_argument(fmt::format("{}: the last initializer ({}, [{}]) is not the 512x512 EMAP matrix of an "
                                          "inswapper model",
                                          model.path.string(), emap.name, fmt::join(emap.dims, ",")));
    }
    swapper->emap_ = std::move(emap.values);
  }

  // Sources: the largest face of each image.
  if (context.analyser == nullptr) return internal_error("face_swapper opened without a face analyser");
  if (context.source_images.empty()) return invalid_argument("face_swapper needs at least one source image (-s)");
  std::vector<std::vector<float>> embeddings, norms;
  bool have_image = false;
  std::vector<std::string> without_face;
  for (size_t i = 0; i < context.source_images.size(); ++i) {
    const cv::Mat& image = context.source_images[i];
    FF_ASSIGN_OR_RETURN(auto faces, context.analyser->analyse(image));
    swapper->source_face_counts_.push_back(static_cast<int>(faces.size()));
    const face::Face* largest = face::largest_face(faces);
    if (largest == nullptr) {
      without_face.push_back(i < context.source_names.size() ? context.source_names[i] : fmt::format("#{}", i));
      continue;
    }
    if (swapper->recognizer_) {
      FF_ASSIGN_OR_RETURN(auto e, swapper->recognizer_->embed(image, *largest));
      norms.push_back(face::embedding_norm(e));
      embeddings.push_back(std::move(e));
    }
    if (c.source_input == SwapperSourceInput::kSourceImage && !have_image) {
      // FaceFusion feeds the first source image's face.
      const cv::Size size(c.source_size, c.source_size);
      const cv::Mat affine = face::estimate_alignment(largest->landmarks5, c.source_alignment, size);
      if (affine.empty()) return invalid_argument("the source face's landmarks are degenerate");
      swapper->source_image_ = face::rgb_planes(face::warp_face(image, affine, size), {0, 0, 0}, {1, 1, 1});
      have_image = true;
    }
  }
  if (embeddings.empty() && !have_image) {
    return no_face(fmt::format("no face found in the source image(s) {}: use a photo where the face is clearly "
                               "visible, frontal and at least ~40 pixels wide",
                               fmt::join(without_face, ", ")));
  }
  if (!embeddings.empty()) {
    swapper->source_embedding_ = average(embeddings);
    swapper->source_embedding_norm_ = average(norms);
  }

  // The source input before the identity weight (FaceFusion's prepare_source_embedding).
  switch (c.source_input) {
    case SwapperSourceInput::kEmapEmbedding: {
      const auto& e = swapper->source_embedding_;
      double norm = 0;
      for (float v : e) norm += double(v) * v;
      norm = std::sqrt(norm);
      std::vector<float> latent(kEmbeddingSize, 0.0f);
      for (int col = 0; col < kEmbeddingSize; ++col) {
        double sum = 0;
        for (int row = 0; row < kEmbeddingSize; ++row) sum += double(e[row]) * swapper->emap_[row * kEmbeddingSize + col];
        latent[col] = static_cast<float>(sum / norm);
      }
      swapper->prepared_source_ = std::move(latent);
      break;
    }
    case SwapperSourceInput::kEmbeddingNorm: swapper->prepared_source_ = swapper->source_embedding_norm_; break;
    case SwapperSourceInput::kConvertedEmbedding:
    case SwapperSourceInput::kConvertedEmbeddingNorm: {
      inference::Tensor in{{1, kEmbeddingSize}, swapper->source_embedding_};
      FF_ASSIGN_OR_RETURN(auto out, swapper->converter_->run({in}));
      if (out.empty() || out[0].data.size() != static_cast<size_t>(kEmbeddingSize)) {
        return invalid_argument(fmt::format("{} did not return a 512-d embedding", converter_model->path.string()));
      }
      swapper->prepared_source_ = c.source_input == SwapperSourceInput::kConvertedEmbeddingNorm
                                      ? face::embedding_norm(out[0].data)
                                      : std::move(out[0].data);
      break;
    }
    case SwapperSourceInput::kSourceImage: break;
  }
  return swapper;
}

Result<inference::Tensor> OnnxSwapper::source_tensor(const std::vector<float>& target_embedding) const {
  if (contract_.source_input == SwapperSourceInput::kSourceImage) return source_image_;
  inference::Tensor t{{1, kEmbeddingSize}, prepared_source_};
  const float w = identity_weight(options_.weight);
  if (w == 0.0f) return t;
  if (target_embedding.size() != static_cast<size_t>(kEmbeddingSize)) {
    return invalid_argument("the identity weight needs the target face's 512-d ArcFace embedding");
  }
  const std::vector<float> target =
      contract_.normalises_target_embedding() ? face::embedding_norm(target_embedding) : target_embedding;
  for (int i = 0; i < kEmbeddingSize; ++i) t.data[i] = t.data[i] * (1.0f - w) + target[i] * w;
  return t;
}

Result<cv::Mat> OnnxSwapper::swap_crop(const cv::Mat& crop, const inference::Tensor& source) const {
  if (crop.type() != CV_8UC3 || crop.rows != crop_size_ || crop.cols != crop_size_) {
    return invalid_argument(fmt::format("swap_crop needs a {0}x{0} BGR uint8 crop", crop_size_));
  }
  const int n = crop_size_ / contract_.size;
  const int s = contract_.size;
  const size_t plane = static_cast<size_t>(s) * s;
  const auto& inputs = session_->inputs();
  std::vector<cv::Mat> swapped;
  for (const cv::Mat& part : implode_pixel_boost(crop, n)) {
    const inference::Tensor target = face::rgb_planes(part, contract_.mean, contract_.std);
    std::vector<inference::Tensor> feed;
    for (const auto& info : inputs) feed.push_back(info.name == "source" ? source : target);
    FF_ASSIGN_OR_RETURN(auto outputs, session_->run(feed));
    if (outputs.empty() || outputs[0].data.size() != 3 * plane) {
      return internal_error(fmt::format("{} returned no 3x{}x{} crop", session_->path().filename().string(), s, s));
    }
    const float* out = outputs[0].data.data();
    cv::Mat bgr(s, s, CV_32FC3);
    for (int y = 0; y < s; ++y) {
      auto* row = bgr.ptr<cv::Vec3f>(y);
      for (int x = 0; x < s; ++x) {
        const size_t i = static_cast<size_t>(y) * s + x;
        for (int c = 0; c < 3; ++c) {
          float v = out[c * plane + i];
          if (contract_.denormalises_output()) v = v * contract_.std[c] + contract_.mean[c];
          row[x][2 - c] = std::clamp(v, 0.0f, 1.0f) * 255.0f;
        }
      }
    }
    swapped.push_back(std::move(bgr));
  }
  return explode_pixel_boost(swapped, n);
}

Status OnnxSwapper::swap(cv::Mat& frame, const face::Face& target) const {
  const cv::Size crop_size(crop_size_, crop_size_);
  const cv::Mat affine = face::estimate_alignment(target.landmarks5, contract_.alignment, crop_size);
  if (affine.empty()) return Status::ok();  // degenerate landmarks: nothing to align, frame passes through
  const cv::Mat crop = face::warp_face(frame, affine, crop_size);
  FF_ASSIGN_OR_RETURN(auto masks, masker_->before_model(crop));

  std::vector<float> target_embedding;
  if (recognizer_ && identity_weight(options_.weight) != 0.0f) {
    FF_ASSIGN_OR_RETURN(target_embedding, recognizer_->embed(frame, target));
  }
  FF_ASSIGN_OR_RETURN(auto source, source_tensor(target_embedding));
  FF_ASSIGN_OR_RETURN(cv::Mat swapped, swap_crop(crop, source));

  std::vector<cv::Point2f> crop_landmarks;
  if (target.has_landmarks68()) cv::transform(target.landmarks68, crop_landmarks, affine);
  cv::Mat swapped_u8;
  swapped.convertTo(swapped_u8, CV_8U);
  FF_ASSIGN_OR_RETURN(auto after, masker_->after_model(swapped_u8, crop_landmarks));
  masks.insert(masks.end(), after.begin(), after.end());
  face::paste_back(frame, swapped, combine_crop_masks(masks, crop_size), affine);
  return Status::ok();
}

}  // namespace facefuse::processors
