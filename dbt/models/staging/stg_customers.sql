with

raw_customers as (

    select * from {{ ref('raw_customers') }}

),

final as (

    select
        cast(id as bigint) as customer_id,
        first_name,
        last_name,
        cast(first_name || ' ' || last_name as varchar) as full_name

    from raw_customers

)

select * from final
