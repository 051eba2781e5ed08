import Foundation
import Hummingbird
import KeyPool

/// `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list format.
struct ModelsRoutes: Sendable {
    let state: GatewayState

    struct Model: Encodable {
        let id: String
        let object = "model"
        /// Models come from config, not from a release date; 0 keeps the field's type.
        let created = 0
        let ownedBy: String

        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }

    struct ModelList: Encodable {
        let object = "list"
        let data: [Model]
    }

    func register(on router: Router<GatewayContext>) {
        router.getAndHead("/v1/models") { request, context -> Response in
            let running = state.current
            try running.accessKeys.authorize(request.headers, record: context.record)
            let models = running.router.listedModels().map { Model(id: $0.id, ownedBy: $0.owner) }
            return try JSONResponse.make(ModelList(data: models))
        }
        // `{id}` would stop at a slash, and `provider/model` names have one.
        router.getAndHead("/v1/models/**") { request, context -> Response in
            let running = state.current
            try running.accessKeys.authorize(request.headers, record: context.record)
            // The openai SDKs percent-encode the id (`mock%2Fgpt-4o`); a raw slash works too.
            let raw = context.parameters.getCatchAll().joined(separator: "/")
            let id = raw.removingPercentEncoding ?? raw
            if let listed = running.router.listedModels().first(where: { $0.id == id }) {
                return try JSONResponse.make(Model(id: listed.id, ownedBy: listed.owner))
            }
            guard let candidate = running.router.candidates(for: id).first else { throw GatewayError.unknownModel(id) }
            return try JSONResponse.make(Model(id: id, ownedBy: candidate.provider.name))
        }
    }
}
